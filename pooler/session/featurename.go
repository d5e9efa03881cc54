package session

// NumFeatures is how many kinds of session-only feature FindFeature tells apart, FeatureNone included:
// a Feature is below it, so arrays indexed by Feature have NumFeatures elements.
const NumFeatures = int(featureCount)

// featureName names each feature in the console (SHOW SESSION_FEATURES feature), the metrics (label
// feature) and the log: lower-case, one word.
var featureName = [featureCount]string{
	FeatureNone:         "none",
	FeatureListen:       "listen",
	FeatureAdvisoryLock: "advisory_lock",
	FeatureTempTable:    "temp_table",
	FeatureHoldCursor:   "hold_cursor",
	FeatureLoad:         "load",
}

// String returns the feature's short name: "listen", "advisory_lock", "temp_table", "hold_cursor",
// "load" ("none" for FeatureNone).
func (f Feature) String() string {
	if int(f) >= NumFeatures {
		return "unknown"
	}
	return featureName[f]
}
