-- Which API calls did one principal make in one destination role, through its role sessions?
-- Follows every successful AssumeRole (and AssumeRoleWithSAML / WithWebIdentity) the principal made,
-- then the sessions those sessions opened in turn (role chaining), up to a depth limit, by the
-- credentials each one returned: a call belongs to the principal when its access key is one of those
-- sessions' keys and its session is of the destination role. Set-based: one query however many
-- sessions there are.
-- Parameters (positional, bound):
--   first and last day to look for role assumptions (a day earlier than the window, so a session
--   opened just before it still counts),
--   the principal's ARN (matched as the caller, and as the role behind a calling session),
--   the principal's unique ID (AIDA…/AROA…; matches the copy of a cross-account call that the
--   destination account records), the depth limit,
--   the destination role's ARN, the destination account, first and last day of the window, and the
--   destination role's ARN again.
WITH RECURSIVE copies AS (
    SELECT
        sharedeventid,
        useridentity.arn AS caller_arn,
        useridentity.sessioncontext.sessionissuer.arn AS caller_role,
        split_part(useridentity.principalid, ':', 1) AS caller_id,
        useridentity.accesskeyid AS caller_key,
        json_extract_scalar(requestparameters, '$.roleArn') AS role_arn,
        json_extract_scalar(responseelements, '$.credentials.accessKeyId') AS session_key
    FROM cloudtrail
    WHERE day BETWEEN ? AND ?
      AND eventsource = 'sts.amazonaws.com'
      AND eventname IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity')
      AND errorcode IS NULL
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
        coalesce(c.session_key, t.session_key) AS session_key
    FROM copies c
    LEFT JOIN copies t ON c.sharedeventid = t.sharedeventid AND t.caller_arn IS NOT NULL
),
chain (session_key, role_arn, depth) AS (
    SELECT session_key, role_arn, 1
    FROM assumptions
    WHERE caller_arn = ? OR caller_role = ? OR caller_id = ?
    UNION ALL
    SELECT a.session_key, a.role_arn, c.depth + 1
    FROM assumptions a
    JOIN chain c ON a.caller_key = c.session_key
    WHERE c.depth < CAST(? AS INTEGER)
),
sessions AS (
    SELECT DISTINCT session_key FROM chain WHERE role_arn = ? AND session_key IS NOT NULL
)
SELECT e.eventsource, e.eventname, e.eventtype, count(*) AS calls, max(e.eventtime) AS last_call
FROM cloudtrail e
JOIN sessions s ON e.useridentity.accesskeyid = s.session_key
WHERE e.account = ?
  AND e.day BETWEEN ? AND ?
  AND e.errorcode IS NULL
  AND e.useridentity.sessioncontext.sessionissuer.arn = ?
GROUP BY e.eventsource, e.eventname, e.eventtype
