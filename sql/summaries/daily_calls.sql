-- ../daily_calls.sql's rows, read from the activity summaries (see all_calls.sql).
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC).
-- Accounts: as in ../all_calls.sql, ctidx filters the result's `account` column.
SELECT account, principal_arn, day,
       sum(calls) AS calls,
       sum(denied_calls) AS denied_calls
FROM activity
WHERE day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
GROUP BY 1, 2, 3
