-- Who used each role, and which API calls did each of them make there? role_calls_by_person.sql for
-- every role at once: one row per account, role (the sessions' issuer), person and kind of call. Each
-- session is attributed to a person as role_calls_by_person.sql says. Reads `session_links`, the result
-- of session_links.sql.
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC); $max_depth: how
-- many assumptions a chain is climbed.
-- Accounts: as in all_calls.sql, ctidx filters the result's `account` column; elsewhere add
-- `AND e.account IN (...)` below.
WITH RECURSIVE
-- Starting from every session opened in the window, climb the chain of role assumptions
-- (each session's caller key is the key of the session that opened it) to the first caller.
ancestry (session_key, caller_key, caller, caller_created, depth) AS (
    SELECT session_key, caller_key, caller_name, caller_created, 1
    FROM session_links
    WHERE first_of_session
      AND NOT switched
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
    e.account,
    e.useridentity.sessioncontext.sessionissuer.arn AS role_arn,
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
WHERE e.day BETWEEN $first_day AND $last_day
  AND e.month BETWEEN $first_month AND $last_month
  AND e.errorcode IS NULL
  AND e.useridentity.type = 'AssumedRole'
GROUP BY 1, 2, 3, e.eventsource, e.eventname, e.eventtype
