-- Which IAM users of an account made at least one successful call in a window of days?
-- A call counts only in the user's own account and as an IAM user, so a same-named user of another
-- account, or a role session, does not make a user active.
-- Parameters (bound by name, never pasted): $account: the account id; $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC).
-- The day filter is on the partition column, so only that window's files are read.
SELECT DISTINCT useridentity.arn AS arn
FROM cloudtrail
WHERE account = $account
  AND day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
  AND errorcode IS NULL
  AND useridentity.type = 'IAMUser'
  AND useridentity.accountid = account
