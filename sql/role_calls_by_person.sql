-- Who used one role, and which API calls did each of them make there?
-- Each session of the role is attributed to a person: the source identity the session carries, if
-- set; else the principal at the start of the chain of role assumptions that produced its access key
-- (an IAM user or role ARN, or the SAML / web-identity user name); else whoever switched to the role
-- in the console under that session ARN (when only one principal did); else the Identity Center user
-- the session acts for; else the role session name (which console role switches and Identity Center
-- sessions set to the person's user name). Reads `session_links`, the result of session_links.sql.
-- Parameters (positional, bound): the depth limit, the role's account, first and last day of the
-- window, the role's ARN.
WITH RECURSIVE
assumptions AS (
    SELECT caller_name AS caller, caller_key, session_key
    FROM session_links
    WHERE first_of_session AND NOT switched
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
        session_arn,
        CASE WHEN count(DISTINCT caller_arn) = 1 THEN min(caller_arn) END AS person
    FROM session_links
    WHERE first_of_session AND switched
    GROUP BY session_arn
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
