-- On which days of a window does the store hold logs of each account? A day with no logs can hide
-- a principal's use of its grants, so findings count the days that have them.
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month):
-- the window ('YYYY-MM-DD', UTC).
-- Accounts: ctidx filters the result's `account` column.
SELECT account, day
FROM cloudtrail
WHERE day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
GROUP BY account, day
