-- A computer name is unique in its project, enforced by the index (creates
-- also check inside their write). Names a race may have doubled before are
-- told apart first: every copy but the oldest gets a piece of its id.
UPDATE desktops SET computer_name = substr(computer_name, 1, 10) || '-' || substr(id, 1, 4)
WHERE EXISTS (
    SELECT 1 FROM desktops o
    WHERE o.project_id = desktops.project_id AND o.computer_name = desktops.computer_name
      AND (o.created_ms < desktops.created_ms OR (o.created_ms = desktops.created_ms AND o.id < desktops.id))
);
DROP INDEX desktops_project_name;
CREATE UNIQUE INDEX desktops_project_name ON desktops (project_id, computer_name);
