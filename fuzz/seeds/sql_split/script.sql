-- Earlier statements prepare for the last, whose result is printed.
CREATE VIEW recent AS
SELECT eventname, "userIdentity".arn AS arn, 'a;b' AS literal
FROM cloudtrail
WHERE day >= '2024-01-01' /* ; not a separator */ AND eventname <> 'O''Brien';
SET datafusion.execution.batch_size = 1024;
SELECT arn, count(*) AS calls FROM recent GROUP BY arn ORDER BY calls DESC LIMIT $1;
-- trailing comment;
