"""The file and the custom properties ChampionEvaluator records on its blessing, importable without TFX's components
(monitoring reads them)."""

COMPARISON_KEY = "comparison"
COMPARISON_FILE = "comparison.json"
MAX_ROWS_KEY = "max_rows"  # parameter: the most eval rows scored (a hash sample beyond it); 0 = every row
PASSED_PROPERTY = "comparison_passed"
REASON_PROPERTY = "comparison_reason"
POLICY_PROPERTY = "comparison_policy"
DIFFERENCE_PROPERTY = "auc_difference"
LOWER_PROPERTY, UPPER_PROPERTY = "auc_difference_lower", "auc_difference_upper"
FINGERPRINT_PROPERTY = "candidate_fingerprint"
THRESHOLDS_PROPERTY = "thresholds_met"
# The eval rows the metrics are of: how many were scored, out of how many, and how they were chosen.
EVALUATED_ROWS_PROPERTY, EVAL_ROWS_PROPERTY, SAMPLE_PROPERTY = "evaluated_rows", "eval_rows", "eval_sample"
