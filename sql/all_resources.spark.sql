-- all_resources.sql for Spark, which has no UNNEST: a lateral view of explode() does its work.
-- Same parameters, same result; add `AND c.account IN (...)` to choose accounts.
WITH seen AS (
    SELECT c.account,
           CASE WHEN c.useridentity.type = 'IAMUser' THEN c.useridentity.arn
                ELSE c.useridentity.sessioncontext.sessionissuer.arn END AS principal_arn,
           c.eventsource, c.eventname, r.arn AS resource_arn
    FROM cloudtrail c
    LATERAL VIEW explode(c.resources) t AS r
    WHERE c.day BETWEEN $first_day AND $last_day
      AND c.month BETWEEN $first_month AND $last_month
      AND c.errorcode IS NULL
      AND c.useridentity.type IN ('IAMUser', 'AssumedRole')
      AND r.arn IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
),
ranked AS (
    SELECT account, principal_arn, eventsource, eventname, resource_arn,
           row_number() OVER (PARTITION BY account, principal_arn, eventsource, eventname
                              ORDER BY resource_arn) AS position,
           count(*) OVER (PARTITION BY account, principal_arn, eventsource, eventname) AS resources_seen
    FROM seen
    WHERE ($principal_arn = '' OR principal_arn = $principal_arn)
)
SELECT account, principal_arn, eventsource, eventname, resource_arn, resources_seen
FROM ranked
WHERE position <= CAST($max_resources AS BIGINT)
