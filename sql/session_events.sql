-- Every event that opened a role session in a window, one row per copy (a cross-account call is
-- recorded in both accounts, linked by sharedeventid). The first of the steps that follow role
-- sessions: session_links.sql reads its result as the table `session_events`. ctidx keeps each
-- step's result in memory; on Athena or Trino, store it with
-- CREATE TABLE session_events AS <this query>. The steps are separate because sessions are followed
-- recursively, and a recursive query reads its inputs again at every step.
--
-- A session opened by a successful AssumeRole (or AssumeRoleWithSAML / WithWebIdentity) is known by
-- the access key it returned; a console role switch returns none, so its session is known by its
-- session ARN, and by the session's creation time where the switch records it. A switch names where
-- it came from (the user, or the role session, that switched) in SwitchFrom.
-- caller_account is the account of whoever opened the session. A hop from one account into another
-- is recorded in the destination account (and, for AssumeRole, in the caller's too), so ctidx can
-- read only the accounts a chain into a given account can pass through: that account, then the
-- caller accounts its session events name, and so on (on another engine, read them all).
-- ctidx runs this query over the store's session openings (the rows of each data file this filter
-- can keep, see README) when they are complete: any filter change must stay within them.
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month): the days to look for role assumptions in.
SELECT
    account,
    sharedeventid,
    eventsource = 'signin.amazonaws.com' AS switched,
    CASE
        WHEN eventsource = 'signin.amazonaws.com'
        THEN json_extract_scalar(additionaleventdata, '$.SwitchFrom')
        ELSE useridentity.arn
    END AS caller_arn,
    CASE
        WHEN eventsource = 'signin.amazonaws.com'
        THEN json_extract_scalar(additionaleventdata, '$.SwitchFrom')
        ELSE coalesce(useridentity.username, useridentity.principalid)
    END AS caller_name,
    CASE
        WHEN eventsource = 'sts.amazonaws.com' THEN useridentity.sessioncontext.sessionissuer.arn
    END AS caller_role,
    CASE
        WHEN eventsource = 'sts.amazonaws.com' THEN split_part(useridentity.principalid, ':', 1)
    END AS caller_id,
    CASE WHEN eventsource = 'sts.amazonaws.com' THEN useridentity.accesskeyid END AS caller_key,
    CASE
        WHEN eventsource = 'signin.amazonaws.com' THEN useridentity.sessioncontext.sessionissuer.arn
        ELSE json_extract_scalar(requestparameters, '$.roleArn')
    END AS role_arn,
    json_extract_scalar(responseelements, '$.credentials.accessKeyId') AS session_key,
    CASE
        WHEN eventsource = 'signin.amazonaws.com' THEN useridentity.arn
        ELSE json_extract_scalar(responseelements, '$.assumedRoleUser.arn')
    END AS session_arn,
    CASE
        WHEN eventsource = 'signin.amazonaws.com'
        THEN useridentity.sessioncontext.attributes.creationdate
    END AS session_created,
    CASE
        WHEN eventsource = 'signin.amazonaws.com'
        THEN split_part(json_extract_scalar(additionaleventdata, '$.SwitchFrom'), ':', 5)
        ELSE coalesce(useridentity.accountid, split_part(useridentity.arn, ':', 5))
    END AS caller_account,
    CASE
        WHEN eventsource = 'sts.amazonaws.com' THEN useridentity.sessioncontext.attributes.creationdate
    END AS caller_created
FROM cloudtrail
WHERE day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
  AND errorcode IS NULL
  AND (
      (eventsource = 'sts.amazonaws.com'
       AND eventname IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity'))
      OR (eventsource = 'signin.amazonaws.com'
          AND eventname = 'SwitchRole'
          AND json_extract_scalar(responseelements, '$.SwitchRole') = 'Success')
  )
