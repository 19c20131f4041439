-- Which IAM users of an account made at least one successful call in a window of days?
-- A call counts only in the user's own account and as an IAM user, so a same-named user of another
-- account, or a role session, does not make a user active.
-- Parameters (positional, bound, never pasted): account id, first day, last day ('YYYY-MM-DD', UTC).
-- The day filter is on the partition column, so only that window's files are read.
SELECT DISTINCT useridentity.arn AS arn
FROM cloudtrail
WHERE account = ?
  AND day BETWEEN ? AND ?
  AND errorcode IS NULL
  AND useridentity.type = 'IAMUser'
  AND useridentity.accountid = account
