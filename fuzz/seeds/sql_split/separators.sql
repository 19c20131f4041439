SELECT 1; ;  ;
SELECT "odd""name", E'tab\there', X'1F' FROM t -- end