package session

// FeatureUncarriedPrepare is SQL the pooler could not carry to the client's next server: a PREPARE sent
// in one query string with other statements (ApplyPrepared: running it again would run the others too),
// so the prepared statement stays on the server of that transaction. FindFeature never returns it (it is
// seen once the transaction is over) and reject_session_features does not refuse it; the leak report
// counts it (pooler/leakreport.go).
const FeatureUncarriedPrepare = featureCount

// NumFeatures is how many kinds of Feature there are, FeatureNone included: a Feature is below it, so
// arrays indexed by Feature have NumFeatures elements.
const NumFeatures = int(featureCount) + 1

// featureName names each feature in the console (SHOW SESSION_FEATURES feature), the metrics (label
// feature) and the log: lower-case, one word.
var featureName = [NumFeatures]string{
	FeatureNone:         "none",
	FeatureListen:       "listen",
	FeatureAdvisoryLock: "advisory_lock",
	FeatureTempTable:    "temp_table",
	FeatureHoldCursor:   "hold_cursor",
	FeatureLoad:         "load",

	FeatureUncarriedPrepare: "uncarried_prepare",
}

// String returns the feature's short name: "listen", "advisory_lock", "temp_table", "hold_cursor",
// "load", "uncarried_prepare" ("none" for FeatureNone).
func (f Feature) String() string {
	if int(f) >= NumFeatures {
		return "unknown"
	}
	return featureName[f]
}
