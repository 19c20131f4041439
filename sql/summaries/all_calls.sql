-- ../all_calls.sql's rows, read from the activity summaries (the table `activity`, defined by
-- activity.sql) instead of the events: a tenth of the rows on a busy organization.
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC).
-- Accounts: as in ../all_calls.sql, ctidx filters the result's `account` column.
SELECT account, principal_type, principal_arn, eventsource, eventname, eventtype,
       sum(calls) AS calls,
       sum(denied_calls) AS denied_calls,
       min(first_call) AS first_call,
       max(last_call) AS last_call
FROM activity
WHERE day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
GROUP BY 1, 2, 3, 4, 5, 6
