-- Every role session opened in a window and what opened it (the two copies of a cross-account call
-- merged), with the tokens that chain sessions together. Reads `session_events`, the result of session_events.sql; session_calls.sql and
-- role_calls_by_person.sql read this query's result as the table `session_links` (on Athena or
-- Trino: CREATE TABLE session_links AS <this query>).
-- No parameters.
-- How sessions continue from one another, as tokens to join on: an AssumeRole made with a session's
-- access key ('k:'), a console switch made from a session ('a:' its ARN), anything made from a
-- switched session ('sw:' its ARN). Each session is listed once per token it can continue from (in)
-- and per token it can be continued by (out), so that following a chain is one equi-join;
-- first_of_session marks one row per session.
SELECT
    coalesce(c.caller_arn, t.caller_arn) AS caller_arn,
    coalesce(c.caller_arn, t.caller_arn, c.caller_name) AS caller_name,
    coalesce(c.caller_role, t.caller_role) AS caller_role,
    c.caller_id,
    c.role_arn,
    coalesce(c.session_key, t.session_key) AS session_key,
    coalesce(c.session_arn, t.session_arn) AS session_arn,
    c.session_created,
    c.switched,
    coalesce(c.caller_key, t.caller_key) AS caller_key,
    coalesce(c.caller_created, t.caller_created) AS caller_created,
    i.n = 1 AND o.n = 1 AS first_of_session,
    CASE
        WHEN c.switched THEN (CASE i.n WHEN 1 THEN 'a:' ELSE 'sw:' END) || c.caller_arn
        WHEN i.n = 1 THEN 'k:' || coalesce(c.caller_key, t.caller_key)
        ELSE 'sw:' || coalesce(c.caller_arn, t.caller_arn)
    END AS in_token,
    CASE
        WHEN c.switched THEN (CASE o.n WHEN 1 THEN 'sw:' || c.session_arn END)
        WHEN o.n = 1 THEN 'k:' || coalesce(c.session_key, t.session_key)
        ELSE 'a:' || coalesce(c.session_arn, t.session_arn)
    END AS out_token
FROM session_events c
CROSS JOIN (VALUES (1), (2)) AS i (n)
CROSS JOIN (VALUES (1), (2)) AS o (n)
-- The two copies of a cross-account call: each takes from its twin what it lacks (only the caller's
-- copy names the caller's ARN and access key).
LEFT JOIN session_events t
  ON c.sharedeventid = t.sharedeventid AND t.caller_arn IS NOT NULL AND NOT t.switched
