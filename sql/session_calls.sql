-- Which API calls did one principal make in one destination role, through its role sessions?
-- Follows every successful AssumeRole (and AssumeRoleWithSAML / WithWebIdentity) the principal made,
-- and every console role switch, then the sessions those sessions opened in turn (role chaining), up
-- to a depth limit. A session opened by an AssumeRole is known by the access key it returned; a
-- console role switch returns none, so its session is known by its session ARN (and the session's
-- creation time, where the switch records it). A call belongs to the principal when it was made in
-- one of those sessions and its session is of the destination role. Set-based: one query however
-- many sessions there are.
-- Parameters (positional, bound):
--   first and last day to look for role assumptions (a day earlier than the window, so a session
--   opened just before it still counts), twice: once for AssumeRole calls, once for role switches;
--   the principal's ARN (matched as the caller, and as the role behind a calling session),
--   the principal's unique ID (AIDA…/AROA…; matches the copy of a cross-account call that the
--   destination account records), the start of the principal's own session ARNs
--   (arn:aws:sts::<account>:assumed-role/<role>/ for a role; the user's ARN for a user), the depth
--   limit, the destination role's ARN, the destination account, first and last day of the window
--   (twice, once per kind of session), and the destination role's ARN (twice).
WITH RECURSIVE copies AS (
    SELECT
        sharedeventid,
        useridentity.arn AS caller_arn,
        useridentity.sessioncontext.sessionissuer.arn AS caller_role,
        split_part(useridentity.principalid, ':', 1) AS caller_id,
        useridentity.accesskeyid AS caller_key,
        json_extract_scalar(requestparameters, '$.roleArn') AS role_arn,
        json_extract_scalar(responseelements, '$.credentials.accessKeyId') AS session_key,
        json_extract_scalar(responseelements, '$.assumedRoleUser.arn') AS session_arn
    FROM cloudtrail
    WHERE day BETWEEN ? AND ?
      AND eventsource = 'sts.amazonaws.com'
      AND eventname IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity')
      AND errorcode IS NULL
),
-- A console role switch names where it came from: the user, or the role session, that switched.
switches AS (
    SELECT
        json_extract_scalar(additionaleventdata, '$.SwitchFrom') AS caller_arn,
        useridentity.sessioncontext.sessionissuer.arn AS role_arn,
        useridentity.arn AS session_arn,
        useridentity.sessioncontext.attributes.creationdate AS session_created
    FROM cloudtrail
    WHERE day BETWEEN ? AND ?
      AND eventsource = 'signin.amazonaws.com'
      AND eventname = 'SwitchRole'
      AND json_extract_scalar(responseelements, '$.SwitchRole') = 'Success'
),
-- A cross-account call is recorded in both accounts with one sharedeventid; each copy takes from its
-- twin what it lacks (only the caller's copy names the caller's ARN and access key).
assumptions AS (
    SELECT DISTINCT
        coalesce(c.caller_arn, t.caller_arn) AS caller_arn,
        coalesce(c.caller_role, t.caller_role) AS caller_role,
        c.caller_id,
        coalesce(c.caller_key, t.caller_key) AS caller_key,
        c.role_arn,
        coalesce(c.session_key, t.session_key) AS session_key,
        coalesce(c.session_arn, t.session_arn) AS session_arn,
        CAST(NULL AS VARCHAR) AS session_created,
        false AS switched
    FROM copies c
    LEFT JOIN copies t ON c.sharedeventid = t.sharedeventid AND t.caller_arn IS NOT NULL
    UNION ALL
    SELECT DISTINCT
        caller_arn,
        CAST(NULL AS VARCHAR) AS caller_role,
        CAST(NULL AS VARCHAR) AS caller_id,
        CAST(NULL AS VARCHAR) AS caller_key,
        role_arn,
        CAST(NULL AS VARCHAR) AS session_key,
        session_arn,
        session_created,
        true AS switched
    FROM switches
),
-- A session continues through the access key it returned; a role switch (which returns no key)
-- continues from, or is made from, a session named by its ARN.
chain (session_key, session_arn, session_created, role_arn, switched, depth) AS (
    SELECT session_key, session_arn, session_created, role_arn, switched, 1
    FROM assumptions
    WHERE caller_arn = ? OR caller_role = ? OR caller_id = ? OR starts_with(caller_arn, ?)
    UNION ALL
    SELECT a.session_key, a.session_arn, a.session_created, a.role_arn, a.switched, c.depth + 1
    FROM assumptions a
    JOIN chain c
      ON a.caller_key = c.session_key
      OR ((a.switched OR c.switched) AND a.caller_arn = c.session_arn)
    WHERE c.depth < CAST(? AS INTEGER)
),
-- A switch may not name its role (the session ARN does, and the calls below are held to the
-- destination role all the same).
sessions AS (
    SELECT DISTINCT
        session_key,
        CASE WHEN switched THEN session_arn END AS switch_arn,
        session_created
    FROM chain
    WHERE role_arn = ? OR (switched AND role_arn IS NULL)
),
calls AS (
    SELECT e.eventid, e.eventsource, e.eventname, e.eventtype, e.eventtime
    FROM cloudtrail e
    JOIN sessions s ON e.useridentity.accesskeyid = s.session_key
    WHERE e.account = ?
      AND e.day BETWEEN ? AND ?
      AND e.errorcode IS NULL
      AND e.useridentity.sessioncontext.sessionissuer.arn = ?
    UNION
    SELECT e.eventid, e.eventsource, e.eventname, e.eventtype, e.eventtime
    FROM cloudtrail e
    JOIN sessions s
      ON e.useridentity.arn = s.switch_arn
     AND (s.session_created IS NULL
          OR e.useridentity.sessioncontext.attributes.creationdate = s.session_created)
    WHERE e.account = ?
      AND e.day BETWEEN ? AND ?
      AND e.errorcode IS NULL
      AND e.useridentity.sessioncontext.sessionissuer.arn = ?
)
SELECT eventsource, eventname, eventtype, count(*) AS calls, max(eventtime) AS last_call
FROM calls
GROUP BY eventsource, eventname, eventtype
