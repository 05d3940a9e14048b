-- Assignments per experiment and variant.
SELECT
    exp_id,
    variant_id,
    COUNT(*) AS assignments
FROM assignment
GROUP BY exp_id, variant_id
ORDER BY exp_id, variant_id;
