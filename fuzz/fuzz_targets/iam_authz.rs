//! `aws iam get-account-authorization-details` output.

#![no_main]

use ctidx::iam::authz::{AuthorizationDetails, CreateDate, account_of_arn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(details) = AuthorizationDetails::from_json_str(text) else {
        return;
    };
    // Merging is keyed by ARN, so a file merged with itself says what the file alone says.
    let once = AuthorizationDetails::merge([details.clone()]);
    let twice = AuthorizationDetails::merge([details.clone(), details.clone()]);
    assert_eq!(once.users, twice.users);
    assert_eq!(once.groups, twice.groups);
    assert_eq!(once.roles, twice.roles);
    assert_eq!(once.policies, twice.policies);

    for user in &details.users {
        assert!(details.user(&user.arn).is_some());
        let account = account_of_arn(&user.arn);
        for group_name in &user.group_names {
            if let Some(group) = details.group_of_user(user, group_name) {
                assert_eq!(&group.name, group_name);
                if account.is_some() {
                    assert_eq!(account_of_arn(&group.arn), account);
                }
            }
        }
    }
    for role in &details.roles {
        assert!(details.role(&role.arn).is_some());
    }
    for policy in &details.policies {
        assert!(details.managed_policy(&policy.arn).is_some());
    }
    let dates = details
        .users
        .iter()
        .map(|user| &user.create_date)
        .chain(details.groups.iter().map(|group| &group.create_date))
        .chain(details.roles.iter().map(|role| &role.create_date));
    for date in dates.flatten() {
        // What is printed parses back to the same instant.
        let printed = date.rfc3339();
        let reparsed = CreateDate::parse(&printed).unwrap_or_else(|| {
            panic!(
                "{printed:?}, printed from {:?}, does not parse",
                date.original
            )
        });
        assert_eq!(
            reparsed.utc.timestamp(),
            date.utc.timestamp(),
            "{printed:?}"
        );
    }
});
