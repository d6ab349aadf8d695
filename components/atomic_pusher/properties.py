"""The custom properties AtomicPusher records on its PushedModel, importable without TFX's components: the pushed
(or refused) model's fingerprint, and the version already served with the same content when a push was refused."""

FINGERPRINT_PROPERTY = "model_fingerprint"
IDENTICAL_VERSION_PROPERTY = "identical_to_version"
