-- Who used one role, and which API calls did each of them make there?
-- Each session of the role is attributed to a person: the source identity the session carries, if
-- set; else the principal at the start of the chain of role assumptions that produced its access key
-- (an IAM user or role ARN, or the SAML / web-identity user name); else whoever switched to the role
-- in the console under that session ARN (when only one principal did); else the Identity Center user
-- the session acts for; else the role session name (which console role switches and Identity Center
-- sessions set to the person's user name).
-- Parameters (positional, bound): first and last day to look for role assumptions (a day earlier than
-- the window), the depth limit, the same two days again (for role switches), the role's account,
-- first and last day of the window, the role's ARN.
WITH RECURSIVE copies AS (
    SELECT
        sharedeventid,
        useridentity.arn AS caller_arn,
        coalesce(useridentity.username, useridentity.principalid) AS caller_name,
        useridentity.accesskeyid AS caller_key,
        json_extract_scalar(responseelements, '$.credentials.accessKeyId') AS session_key
    FROM cloudtrail
    WHERE day BETWEEN ? AND ?
      AND eventsource = 'sts.amazonaws.com'
      AND eventname IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity')
      AND errorcode IS NULL
),
-- The two copies of a cross-account call share a sharedeventid: the caller's copy names the caller.
assumptions AS (
    SELECT DISTINCT
        coalesce(c.caller_arn, t.caller_arn, c.caller_name) AS caller,
        coalesce(c.caller_key, t.caller_key) AS caller_key,
        coalesce(c.session_key, t.session_key) AS session_key
    FROM copies c
    LEFT JOIN copies t ON c.sharedeventid = t.sharedeventid AND t.caller_arn IS NOT NULL
),
lineage (session_key, person, depth) AS (
    SELECT a.session_key, a.caller, 1
    FROM assumptions a
    LEFT JOIN assumptions parent ON a.caller_key = parent.session_key
    WHERE parent.session_key IS NULL
    UNION ALL
    SELECT a.session_key, l.person, l.depth + 1
    FROM assumptions a
    JOIN lineage l ON a.caller_key = l.session_key
    WHERE l.depth < CAST(? AS INTEGER)
),
origins AS (
    SELECT session_key, min(person) AS person FROM lineage WHERE session_key IS NOT NULL GROUP BY session_key
),
switchers AS (
    SELECT
        useridentity.arn AS session_arn,
        CASE
            WHEN count(DISTINCT json_extract_scalar(additionaleventdata, '$.SwitchFrom')) = 1
            THEN min(json_extract_scalar(additionaleventdata, '$.SwitchFrom'))
        END AS person
    FROM cloudtrail
    WHERE day BETWEEN ? AND ?
      AND eventsource = 'signin.amazonaws.com'
      AND eventname = 'SwitchRole'
      AND json_extract_scalar(responseelements, '$.SwitchRole') = 'Success'
    GROUP BY useridentity.arn
)
SELECT
    coalesce(
        e.useridentity.sessioncontext.sourceidentity,
        o.person,
        w.person,
        e.useridentity.onbehalfof.userid,
        split_part(e.useridentity.arn, '/', 3)
    ) AS person,
    e.eventsource, e.eventname, e.eventtype, count(*) AS calls, max(e.eventtime) AS last_call
FROM cloudtrail e
LEFT JOIN origins o ON e.useridentity.accesskeyid = o.session_key
LEFT JOIN switchers w ON e.useridentity.arn = w.session_arn
WHERE e.account = ?
  AND e.day BETWEEN ? AND ?
  AND e.errorcode IS NULL
  AND e.useridentity.type = 'AssumedRole'
  AND e.useridentity.sessioncontext.sessionissuer.arn = ?
GROUP BY 1, e.eventsource, e.eventname, e.eventtype
