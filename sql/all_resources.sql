-- The resources each IAM user, and each role through its sessions, called successfully in a window of
-- days, by kind of call (resources[].arn): at most $max_resources of them, the first by ARN, and
-- resources_seen, how many distinct ARNs there were. Principals as in all_calls.sql.
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC); $principal_arn:
-- one principal's ARN, or '' for all; $max_resources: how many ARNs to keep per principal and kind.
-- Accounts: as in all_calls.sql, ctidx filters the result's `account` column.
-- The select-list unnest is DataFusion's; Athena, Trino and Spark take all_resources.athena.sql.
WITH seen AS (
    SELECT account, principal_arn, eventsource, eventname, resource.arn AS resource_arn
    FROM (
        SELECT account, eventsource, eventname, unnest(resources) AS resource,
               CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.arn
                    ELSE useridentity.sessioncontext.sessionissuer.arn END AS principal_arn
        FROM cloudtrail
        WHERE day BETWEEN $first_day AND $last_day
          AND month BETWEEN $first_month AND $last_month
          AND errorcode IS NULL
          AND useridentity.type IN ('IAMUser', 'AssumedRole')
          AND resources IS NOT NULL
    )
    WHERE ($principal_arn = '' OR principal_arn = $principal_arn)
      AND resource.arn IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
),
ranked AS (
    SELECT account, principal_arn, eventsource, eventname, resource_arn,
           row_number() OVER (PARTITION BY account, principal_arn, eventsource, eventname
                              ORDER BY resource_arn) AS position,
           count(*) OVER (PARTITION BY account, principal_arn, eventsource, eventname) AS resources_seen
    FROM seen
)
SELECT account, principal_arn, eventsource, eventname, resource_arn, resources_seen
FROM ranked
WHERE position <= CAST($max_resources AS BIGINT)
