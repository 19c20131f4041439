-- The sessions one principal opened in one destination role, directly or through chains of role
-- sessions: every role session the principal opened (by AssumeRole, AssumeRoleWithSAML /
-- WithWebIdentity, or a console role switch), then the sessions those sessions opened in turn (role
-- chaining), up to a depth limit, kept when the session is of the destination role. Set-based: one
-- query however many sessions there are. Reads `session_links`, the result of session_links.sql;
-- session_calls.sql and session_requests.sql read this one's result, `person_sessions`.
-- Parameters (bound by name):
--   $principal_arn: the principal's ARN (matched as the caller, and as the role behind a calling
--     session);
--   $principal_id: the principal's unique ID (AIDA…/AROA…; matches the copy of a cross-account call
--     that the destination account records);
--   $session_prefix: the start of the principal's own session ARNs
--     (arn:aws:sts::<account>:assumed-role/<role>/ for a role; "<user ARN>/", which starts none, for
--     a user);
--   $max_depth: how many assumptions a chain is followed;
--   $role_arn: the destination role's ARN.
WITH RECURSIVE
chain (out_token, session_key, session_arn, session_created, role_arn, switched, depth) AS (
    SELECT DISTINCT out_token, session_key, session_arn, session_created, role_arn, switched, 1
    FROM session_links
    WHERE caller_arn = $principal_arn
       OR caller_role = $principal_arn
       OR caller_id = $principal_id
       OR substr(caller_arn, 1, length($session_prefix)) = $session_prefix
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
SELECT session_key, switch_arn, session_created FROM sessions
