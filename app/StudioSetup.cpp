#include "StudioSetup.h"

#include <QSurfaceFormat>

#include "atelier/system.h"

void configureDefaultSurfaceFormat() {
    QSurfaceFormat format;
    format.setVersion(3, 3);
    format.setProfile(QSurfaceFormat::CoreProfile);
    format.setSwapInterval(1);
    QSurfaceFormat::setDefaultFormat(format);
}

StudioOptions studioOptionsFromEnvironment() {
    atelier::set_compute_threads(0);
    StudioOptions options;
    const QByteArray model = qgetenv("ATELIER_MODEL");
    options.modelPath = model.isEmpty() ? QString::fromStdString(atelier::default_model_dir()) : QString::fromLocal8Bit(model);
    return options;
}
