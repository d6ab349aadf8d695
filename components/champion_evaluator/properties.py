"""The file and the custom properties ChampionEvaluator records on its blessing, importable without TFX's components
(monitoring reads them)."""

COMPARISON_KEY = "comparison"
COMPARISON_FILE = "comparison.json"
PASSED_PROPERTY = "comparison_passed"
REASON_PROPERTY = "comparison_reason"
POLICY_PROPERTY = "comparison_policy"
DIFFERENCE_PROPERTY = "auc_difference"
LOWER_PROPERTY, UPPER_PROPERTY = "auc_difference_lower", "auc_difference_upper"
FINGERPRINT_PROPERTY = "candidate_fingerprint"
THRESHOLDS_PROPERTY = "thresholds_met"
