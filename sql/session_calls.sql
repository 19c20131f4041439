-- Which API calls did one principal make in one destination role, through its role sessions?
-- Follows every role session the principal opened (by AssumeRole, AssumeRoleWithSAML /
-- WithWebIdentity, or a console role switch), then the sessions those sessions opened in turn (role
-- chaining), up to a depth limit. A call belongs to the principal when it was made in one of those
-- sessions (with the access key an assumption returned, or under the session ARN and creation time
-- of a role switch) and its session is of the destination role. Set-based: one query however many
-- sessions there are. Reads `session_links`, the result of session_links.sql.
-- Parameters (bound by name):
--   $principal_arn: the principal's ARN (matched as the caller, and as the role behind a calling
--     session);
--   $principal_id: the principal's unique ID (AIDA…/AROA…; matches the copy of a cross-account call
--     that the destination account records);
--   $session_prefix: the start of the principal's own session ARNs
--     (arn:aws:sts::<account>:assumed-role/<role>/ for a role; "<user ARN>/", which starts none, for
--     a user);
--   $max_depth: how many assumptions a chain is followed;
--   $role_arn, $role_account: the destination role's ARN and account;
--   $first_day, $last_day: the window ('YYYY-MM-DD', UTC).
WITH RECURSIVE
chain (out_token, session_key, session_arn, session_created, role_arn, switched, depth) AS (
    SELECT DISTINCT out_token, session_key, session_arn, session_created, role_arn, switched, 1
    FROM session_links
    WHERE caller_arn = $principal_arn
       OR caller_role = $principal_arn
       OR caller_id = $principal_id
       OR starts_with(caller_arn, $session_prefix)
    UNION ALL
    SELECT l.out_token, l.session_key, l.session_arn, l.session_created, l.role_arn, l.switched, c.depth + 1
    FROM chain c
    JOIN session_links l ON l.in_token = c.out_token
    WHERE c.depth < CAST($max_depth AS INTEGER)
),
-- A switch may not name its role (the session ARN does, and the calls below are held to the
-- destination role all the same).
sessions AS (
    SELECT DISTINCT
        session_key,
        CASE WHEN switched THEN session_arn END AS switch_arn,
        session_created
    FROM chain
    WHERE role_arn = $role_arn OR (switched AND role_arn IS NULL)
)
-- A call is in one of the sessions when its access key is a session's key, or when it was made under
-- a switched session's ARN (and creation time, where the switch recorded one).
SELECT e.eventsource, e.eventname, e.eventtype,
       count(*) AS calls, min(e.eventtime) AS first_call, max(e.eventtime) AS last_call
FROM cloudtrail e
WHERE e.account = $role_account
  AND e.day BETWEEN $first_day AND $last_day
  AND e.errorcode IS NULL
  AND e.useridentity.sessioncontext.sessionissuer.arn = $role_arn
  AND (
      e.useridentity.accesskeyid IN (SELECT session_key FROM sessions)
      OR e.useridentity.arn || ' ' || e.useridentity.sessioncontext.attributes.creationdate
         IN (SELECT switch_arn || ' ' || session_created FROM sessions)
      OR e.useridentity.arn IN (SELECT switch_arn FROM sessions WHERE session_created IS NULL)
  )
GROUP BY e.eventsource, e.eventname, e.eventtype
