//! `deskplane api-users create|list|delete`: users of the API itself, who get
//! tokens from `POST /v3/auth/tokens` with a password (not desktop users).

use crate::auth::passwords::hash_password;
use crate::config::Config;
use crate::domain::ids::ProjectId;
use crate::domain::time::{now_ms, rfc3339};
use crate::serve::open_store;
use crate::store::ApiUserRow;
use clap::Subcommand;
use std::io::BufRead;

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Action {
    /// Create a user (or set a new password) for a project.
    Create {
        /// Project id.
        #[arg(long)]
        project: String,
        /// User name.
        #[arg(long)]
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        /// The password (visible in the process list: prefer --password-stdin).
        #[arg(long)]
        password: Option<String>,
    },
    /// List users (never passwords).
    List {
        /// Only this project.
        #[arg(long)]
        project: Option<ProjectId>,
    },
    /// Delete a user and revoke their tokens.
    Delete {
        /// Project id.
        #[arg(long)]
        project: ProjectId,
        /// User name.
        #[arg(long)]
        name: String,
    },
}

/// Run the action.
pub async fn run(cfg: Config, action: Action) -> anyhow::Result<()> {
    let opened = open_store(&cfg).await?;
    let store = opened.store.as_ref();
    let result = async {
        match action {
            Action::Create {
                project,
                name,
                password_stdin,
                password,
            } => {
                let project = project
                    .parse::<ProjectId>()
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let password = match (password, password_stdin) {
                    (Some(p), _) => p,
                    (None, true) => {
                        let mut line = String::new();
                        std::io::stdin().lock().read_line(&mut line)?;
                        line.trim_end_matches(['\r', '\n']).to_owned()
                    }
                    (None, false) => anyhow::bail!("give --password-stdin or --password"),
                };
                if password.len() < 8 {
                    anyhow::bail!("the password must have at least 8 characters");
                }
                store
                    .ensure_project(&project, project.as_str(), now_ms())
                    .await?;
                let password_hash = hash_password(&password).map_err(|e| anyhow::anyhow!(e))?;
                store
                    .put_api_user(&ApiUserRow {
                        project_id: project.clone(),
                        user_name: name.clone(),
                        password_hash,
                        created_ms: now_ms(),
                    })
                    .await?;
                println!("api user {name} can now get tokens for project {project}");
                Ok(())
            }
            Action::List { project } => {
                for u in store.list_api_users(project.as_ref()).await? {
                    println!(
                        "{}\t{}\t{}",
                        u.project_id,
                        u.user_name,
                        rfc3339(u.created_ms)
                    );
                }
                Ok(())
            }
            Action::Delete { project, name } => {
                if store.delete_api_user(&project, &name).await? {
                    println!("deleted {name}; their tokens are revoked");
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("no api user {name} in project {project}"))
                }
            }
        }
    }
    .await;
    opened.close().await;
    result
}
