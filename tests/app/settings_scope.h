// The person's studio settings (Settings dialog) changed for the length of a test, restored after.
#pragma once
#include <functional>

#include "SettingsDialog.h"

class SettingsScope {
public:
    explicit SettingsScope(const std::function<void(StudioSettings&)>& change) : previous_(StudioSettings::load()) {
        StudioSettings s = previous_;
        change(s);
        s.save();
    }
    ~SettingsScope() { previous_.save(); }
    SettingsScope(const SettingsScope&) = delete;
    SettingsScope& operator=(const SettingsScope&) = delete;

    // Settings > Taste features set to `featureSet` (empty: the default).
    static std::function<void(StudioSettings&)> tasteFeatures(const QString& featureSet) {
        return [featureSet](StudioSettings& s) { s.tasteFeatures = featureSet; };
    }

private:
    StudioSettings previous_;
};
