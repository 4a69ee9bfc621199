//! `deskplane credentials create|list|delete`: AK/SK management on the database.

use crate::config::Config;
use crate::domain::ids::ProjectId;
use crate::domain::time::{now_ms, rfc3339};
use crate::serve::{create_credential, open_store, sealer};
use clap::Subcommand;

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Action {
    /// Create an AK/SK pair for a project (the project is created if new).
    Create {
        /// Project id.
        #[arg(long)]
        project: String,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List access keys (never secret keys).
    List {
        /// Only this project.
        #[arg(long)]
        project: Option<ProjectId>,
    },
    /// Delete an access key.
    Delete {
        /// The access key.
        access_key: String,
    },
}

/// Run the action.
pub async fn run(cfg: Config, action: Action) -> anyhow::Result<()> {
    let opened = open_store(&cfg).await?;
    let store = opened.store.as_ref();
    let result = match action {
        Action::Create {
            project,
            description,
            json,
        } => {
            let project = project
                .parse::<ProjectId>()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            store
                .ensure_project(&project, project.as_str(), now_ms())
                .await?;
            let (ak, sk) =
                create_credential(store, &sealer(&cfg)?, &project, &description, None).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"project_id": project.as_str(), "access_key": ak, "secret_key": sk})
                );
            } else {
                println!("project_id = {project}\naccess_key = {ak}\nsecret_key = {sk}");
            }
            Ok(())
        }
        Action::List { project } => {
            for c in store.list_credentials(project.as_ref()).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    c.access_key,
                    c.project_id,
                    rfc3339(c.created_ms),
                    c.description
                );
            }
            Ok(())
        }
        Action::Delete { access_key } => {
            if store.delete_credential(&access_key).await? {
                println!("deleted {access_key}");
                Ok(())
            } else {
                Err(anyhow::anyhow!("no access key {access_key}"))
            }
        }
    };
    opened.close().await;
    result
}
