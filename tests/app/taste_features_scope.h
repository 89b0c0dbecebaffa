// The person's taste-feature choice (Settings > Taste features) for the length of a test, restored after.
#pragma once
#include "SettingsDialog.h"

class TasteFeaturesScope {
public:
    explicit TasteFeaturesScope(const QString& featureSet) : previous_(StudioSettings::load().tasteFeatures) {
        set(featureSet);
    }
    ~TasteFeaturesScope() { set(previous_); }
    TasteFeaturesScope(const TasteFeaturesScope&) = delete;
    TasteFeaturesScope& operator=(const TasteFeaturesScope&) = delete;

private:
    static void set(const QString& featureSet) {
        StudioSettings s = StudioSettings::load();
        s.tasteFeatures = featureSet;
        s.save();
    }
    QString previous_;
};
