//! Settings resolved once, before any command runs: flags, then environment, then `config.yaml`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::ingest::s3::{ConnectOptions, S3Error, S3Url};
use crate::store::Store;

pub const DEFAULT_STORE: &str = "ctidx-store";
pub const DEFAULT_CONFIG: &str = "config.yaml";

/// CloudTracker's `config.yaml`, plus ctidx's optional keys.
/// Unknown keys (such as CloudTracker's `elasticsearch:` section) are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    pub athena: Option<AthenaConfig>,
    /// Where the store lives (ctidx's own key).
    pub store: Option<PathBuf>,
    /// Data events the trails record, as IAM action patterns (ctidx's own key).
    #[serde(default)]
    pub data_events: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountConfig {
    pub name: String,
    #[serde(deserialize_with = "account_id")]
    pub id: String,
    /// One IAM snapshot file, or several pages of one; none when the key is missing.
    #[serde(default, deserialize_with = "one_or_many")]
    pub iam: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AthenaConfig {
    pub s3_bucket: String,
    #[serde(default)]
    pub path: String,
    pub org_id: Option<String>,
    pub output_s3_bucket: Option<String>,
}

/// YAML reads `id: 012345678901` as a number and would drop the leading zero, so ids are taken as
/// written: a string, or a number padded back to 12 digits.
fn account_id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Text(text) => text,
        Id::Number(number) => format!("{number:012}"),
    })
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(path) => vec![path],
        OneOrMany::Many(paths) => paths,
    })
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml::from_str(&text)
            .with_context(|| format!("config {} is not valid", path.display()))
    }
}

#[derive(Debug, Default)]
pub struct Settings {
    /// A folder, or an `s3://` URL.
    pub store: PathBuf,
    /// The S3-compatible endpoint of `--endpoint-url`.
    pub endpoint_url: Option<String>,
    pub config: Config,
    /// Folder of the config file: relative IAM paths that do not exist from the working folder are
    /// looked up from here.
    pub config_dir: PathBuf,
}

impl Settings {
    /// Settings for a config file and a store, as the demo uses them.
    pub fn for_config(config_path: &Path, store: PathBuf) -> anyhow::Result<Settings> {
        Ok(Settings {
            store,
            endpoint_url: None,
            config: Config::load(config_path)?,
            config_dir: config_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        })
    }

    /// The configured account named or numbered `wanted`; with `None`, the only one configured.
    pub fn account(&self, wanted: Option<&str>) -> anyhow::Result<&AccountConfig> {
        let accounts = &self.config.accounts;
        let names = || {
            accounts
                .iter()
                .map(|a| format!("{} ({})", a.name, a.id))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match wanted {
            None => match accounts.as_slice() {
                [only] => Ok(only),
                [] => anyhow::bail!(
                    "no accounts configured\n  hint: pass --config FILE with an `accounts:` list (CloudTracker's format)"
                ),
                _ => anyhow::bail!(
                    "several accounts are configured; choose one with --account: {}",
                    names()
                ),
            },
            Some(wanted) => accounts
                .iter()
                .find(|a| a.name == wanted || a.id == wanted)
                .ok_or_else(|| {
                    let close = crate::config::close_matches(
                        wanted,
                        accounts.iter().map(|a| a.name.as_str()),
                    );
                    let hint = if close.is_empty() {
                        String::new()
                    } else {
                        format!("; did you mean {}?", close.join(" or "))
                    };
                    anyhow::anyhow!(
                        "no account {wanted:?} in the config{hint}\n  configured: {}",
                        names()
                    )
                }),
        }
    }

    /// The configured accounts named or numbered in `wanted`, in the config's order; with none
    /// wanted, every configured account.
    pub fn accounts(&self, wanted: &[String]) -> anyhow::Result<Vec<&AccountConfig>> {
        if self.config.accounts.is_empty() {
            // The same error as for one account.
            self.account(None)?;
        }
        if wanted.is_empty() {
            return Ok(self.config.accounts.iter().collect());
        }
        let mut chosen = Vec::new();
        for name in wanted {
            let account = self.account(Some(name))?;
            if !chosen.iter().any(|a: &&AccountConfig| a.id == account.id) {
                chosen.push(account);
            }
        }
        chosen.sort_by_key(|chosen| self.config.accounts.iter().position(|a| a.id == chosen.id));
        Ok(chosen)
    }

    /// One account's IAM snapshot, merged from its files.
    pub fn load_iam(
        &self,
        account: &AccountConfig,
    ) -> anyhow::Result<crate::iam::authz::AuthorizationDetails> {
        if account.iam.is_empty() {
            anyhow::bail!(
                "account {} ({}) has no IAM snapshot\n  hint: add `iam: FILE` to its entry in the config, FILE being the output of `aws iam get-account-authorization-details`",
                account.name,
                account.id
            );
        }
        let paths: Vec<_> = account
            .iam
            .iter()
            .map(|path| self.config_path(path))
            .collect();
        crate::iam::load_snapshot(&paths)
            .with_context(|| format!("the IAM snapshot of account {}", account.name))
    }

    pub fn resolve(args: &GlobalArgs) -> anyhow::Result<Settings> {
        let (config, config_path) = match &args.config {
            Some(path) => (Config::load(path)?, Some(path.clone())),
            None if Path::new(DEFAULT_CONFIG).is_file() => (
                Config::load(Path::new(DEFAULT_CONFIG))?,
                Some(PathBuf::from(DEFAULT_CONFIG)),
            ),
            None => (Config::default(), None),
        };
        let config_dir = config_path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let store = args
            .store
            .clone()
            .or_else(|| {
                config.store.as_ref().map(|s| match s.to_str() {
                    Some(url) if S3Url::is_s3(url) => s.clone(),
                    _ => resolve_relative(&config_dir, s),
                })
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
        Ok(Settings {
            store,
            endpoint_url: args.endpoint_url.clone(),
            config,
            config_dir,
        })
    }

    /// The store, connected when it is in S3.
    pub fn open_store(&self) -> Result<Store, S3Error> {
        Store::open(
            &self.store,
            &ConnectOptions {
                endpoint_url: self.endpoint_url.clone(),
                ..ConnectOptions::default()
            },
        )
    }

    /// A path from the config file: as written if it exists from here, else relative to the config.
    pub fn config_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() || path.exists() {
            path.to_path_buf()
        } else {
            resolve_relative(&self.config_dir, path)
        }
    }
}

/// Candidates within a small edit distance of `wanted`, closest first.
pub fn close_matches<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| (strsim::levenshtein(&wanted_lower, &c.to_lowercase()), c))
        .filter(|(distance, c)| {
            *distance <= 2.max(c.len() / 3) || c.to_lowercase().contains(&wanted_lower)
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(5)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn resolve_relative(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cloudtracker_config() {
        let text = "athena:\n  s3_bucket: my_log_bucket\n  path: my_prefix\naccounts:\n  - name: demo\n    id: 111111111111\n    iam: account-data/demo_iam.json\n  - name: zero\n    id: 012345678901\n    iam: [a.json, b.json]\n";
        let config: Config = serde_yaml::from_str(text).expect("parses");
        assert_eq!(config.accounts[0].id, "111111111111");
        assert_eq!(config.accounts[1].id, "012345678901");
        assert_eq!(config.accounts[1].iam.len(), 2);
        assert_eq!(
            config.athena.map(|a| a.s3_bucket),
            Some("my_log_bucket".to_string())
        );
    }
}
