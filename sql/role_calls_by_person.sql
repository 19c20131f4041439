-- Who used one role, and which API calls did each of them make there?
-- Each session of the role is attributed to a person: the source identity the session carries, if
-- set; else the principal at the start of the chain of role assumptions that produced its access key
-- (an IAM user or role ARN, or the SAML / web-identity user name; when the chain starts in a session
-- opened by a console role switch, whoever switched); else whoever switched to the role
-- in the console under that session ARN (when only one principal did); else the Identity Center user
-- the session acts for; else the role session name (which console role switches and Identity Center
-- sessions set to the person's user name). Reads `session_links`, the result of session_links.sql.
-- Parameters (bound by name): $account: the role's account; $first_day, $last_day (with their months $first_month, $last_month): the window
-- ('YYYY-MM-DD', UTC); $role_arn: the role's ARN; $max_depth: how many assumptions a chain is climbed.
WITH RECURSIVE
-- Starting from the sessions whose keys this role's calls used, climb the chain of role assumptions
-- (each session's caller key is the key of the session that opened it) to the first caller.
ancestry (session_key, caller_key, caller, caller_created, depth) AS (
    SELECT session_key, caller_key, caller_name, caller_created, 1
    FROM session_links
    WHERE first_of_session
      AND NOT switched
      AND session_key IN (
          SELECT useridentity.accesskeyid
          FROM cloudtrail
          WHERE account = $account
            AND day BETWEEN $first_day AND $last_day
            AND month BETWEEN $first_month AND $last_month
            AND useridentity.sessioncontext.sessionissuer.arn = $role_arn
      )
    UNION ALL
    SELECT a.session_key, parent.caller_key, parent.caller_name, parent.caller_created, a.depth + 1
    FROM ancestry a
    JOIN session_links parent
      ON parent.session_key = a.caller_key AND parent.first_of_session AND NOT parent.switched
    WHERE a.depth < CAST($max_depth AS INTEGER)
),
furthest AS (
    SELECT session_key, max(depth) AS depth FROM ancestry GROUP BY session_key
),
switchers AS (
    SELECT
        session_arn,
        CASE WHEN count(DISTINCT caller_arn) = 1 THEN min(caller_arn) END AS person
    FROM session_links
    WHERE first_of_session AND switched
    GROUP BY session_arn
),
-- Each console role switch, known by its session ARN and creation time: the climb stops at a session
-- opened by a switch (it returns no key), and the person is the one who switched.
switches AS (
    SELECT
        session_arn,
        session_created,
        CASE WHEN count(DISTINCT caller_arn) = 1 THEN min(caller_arn) END AS person
    FROM session_links
    WHERE first_of_session AND switched AND session_created IS NOT NULL
    GROUP BY session_arn, session_created
),
origins AS (
    SELECT a.session_key, min(coalesce(s.person, a.caller)) AS person
    FROM ancestry a
    JOIN furthest f ON a.session_key = f.session_key AND a.depth = f.depth
    LEFT JOIN switches s ON s.session_arn = a.caller AND s.session_created = a.caller_created
    GROUP BY a.session_key
)
SELECT
    coalesce(
        e.useridentity.sessioncontext.sourceidentity,
        o.person,
        w.person,
        e.useridentity.onbehalfof.userid,
        split_part(e.useridentity.arn, '/', 3)
    ) AS person,
    e.eventsource, e.eventname, e.eventtype,
    count(*) AS calls, min(e.eventtime) AS first_call, max(e.eventtime) AS last_call
-- Written as RIGHT JOINs with the small tables first: the engine builds its hash table from the left
-- input, and building it from the events instead took gigabytes on a 10M-event store.
FROM switchers w
RIGHT JOIN (origins o RIGHT JOIN cloudtrail e ON e.useridentity.accesskeyid = o.session_key)
  ON e.useridentity.arn = w.session_arn
WHERE e.account = $account
  AND e.day BETWEEN $first_day AND $last_day
  AND e.month BETWEEN $first_month AND $last_month
  AND e.errorcode IS NULL
  AND e.useridentity.type = 'AssumedRole'
  AND e.useridentity.sessioncontext.sessionissuer.arn = $role_arn
GROUP BY 1, e.eventsource, e.eventname, e.eventtype
