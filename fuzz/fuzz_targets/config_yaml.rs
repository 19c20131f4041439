//! `config.yaml`: CloudTracker's format plus ctidx's own keys, read from a file as `--config` does.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use ctidx::config::{Config, Settings, close_matches};
use libfuzzer_sys::fuzz_target;

/// One file per fuzzing process, rewritten for every input.
static CONFIG_FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    std::env::temp_dir().join(format!("ctidx-fuzz-config-{}.yaml", std::process::id()))
});

fuzz_target!(|bytes: &[u8]| {
    std::fs::write(&*CONFIG_FILE, bytes).expect("the temporary folder is writable");
    let Ok(settings) = Settings::for_config(&CONFIG_FILE, PathBuf::from("store")) else {
        return;
    };
    let again = Config::load(&CONFIG_FILE).expect("what loaded once loads again");
    assert_eq!(format!("{:?}", settings.config), format!("{again:?}"));

    let accounts = &settings.config.accounts;
    assert_eq!(settings.account(None).is_ok(), accounts.len() == 1);
    for account in accounts {
        for wanted in [&account.name, &account.id] {
            let found = settings
                .account(Some(wanted))
                .unwrap_or_else(|error| panic!("{wanted:?} is configured but not found: {error}"));
            assert!(&found.name == wanted || &found.id == wanted);
        }
        for path in &account.iam {
            settings.config_path(path);
        }
    }
    let names = accounts.iter().map(|account| account.name.as_str());
    for account in accounts {
        let close = close_matches(&account.name, names.clone());
        assert!(close.len() <= 5, "{close:?}");
        // A configured name is at distance zero from itself; only five or more ties can crowd it out.
        if accounts.len() <= 5 {
            assert!(
                close.contains(&account.name),
                "{:?} not in {close:?}",
                account.name
            );
        }
    }
});
