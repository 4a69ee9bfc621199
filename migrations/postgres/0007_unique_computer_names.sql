-- A computer name is unique in its project, enforced by the index (creates
-- also check inside their write). Names a race may have doubled before are
-- told apart first: every copy but the oldest gets a piece of its id.
UPDATE desktops d SET computer_name = left(d.computer_name, 10) || '-' || left(d.id, 4)
WHERE EXISTS (
    SELECT 1 FROM desktops o
    WHERE o.project_id = d.project_id AND o.computer_name = d.computer_name
      AND (o.created_ms < d.created_ms OR (o.created_ms = d.created_ms AND o.id < d.id))
);
DROP INDEX desktops_project_name;
CREATE UNIQUE INDEX desktops_project_name ON desktops (project_id, computer_name COLLATE "C");
