-- Who used one role, and which API calls did each of them make there?
-- Each session of the role is attributed to a person: the source identity the session carries, if
-- set; else the principal at the start of the chain of role assumptions that produced its access key
-- (an IAM user or role ARN, or the SAML / web-identity user name); else whoever switched to the role
-- in the console under that session ARN (when only one principal did); else the Identity Center user
-- the session acts for; else the role session name (which console role switches and Identity Center
-- sessions set to the person's user name). Reads `session_links`, the result of session_links.sql.
-- Parameters (positional, bound): the role's account, first and last day of the window and the
-- role's ARN (for the sessions to trace), the depth limit, then the role's account, first and last
-- day of the window and the role's ARN again (for the calls).
WITH RECURSIVE
-- Starting from the sessions whose keys this role's calls used, climb the chain of role assumptions
-- (each session's caller key is the key of the session that opened it) to the first caller.
ancestry (session_key, caller_key, caller, depth) AS (
    SELECT session_key, caller_key, caller_name, 1
    FROM session_links
    WHERE first_of_session
      AND NOT switched
      AND session_key IN (
          SELECT useridentity.accesskeyid
          FROM cloudtrail
          WHERE account = ?
            AND day BETWEEN ? AND ?
            AND useridentity.sessioncontext.sessionissuer.arn = ?
      )
    UNION ALL
    SELECT a.session_key, parent.caller_key, parent.caller_name, a.depth + 1
    FROM ancestry a
    JOIN session_links parent
      ON parent.session_key = a.caller_key AND parent.first_of_session AND NOT parent.switched
    WHERE a.depth < CAST(? AS INTEGER)
),
furthest AS (
    SELECT session_key, max(depth) AS depth FROM ancestry GROUP BY session_key
),
origins AS (
    SELECT a.session_key, min(a.caller) AS person
    FROM ancestry a
    JOIN furthest f ON a.session_key = f.session_key AND a.depth = f.depth
    GROUP BY a.session_key
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
