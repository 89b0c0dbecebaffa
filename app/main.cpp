// atelier: the studio's GUI entry point (thin: the studio itself lives in atelier_app).
#include <QApplication>
#include <QCommandLineParser>
#include <QSurfaceFormat>

#include "atelier/system.h"

#include "MainWindow.h"
#include "SettingsDialog.h"
#include "StudioSetup.h"

int main(int argc, char** argv) {
    configureDefaultSurfaceFormat();
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Atelier"));
    QApplication::setOrganizationName(QStringLiteral("Atelier"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Atelier - a desktop personalization studio"));
    parser.addHelpOption();
    QCommandLineOption modelOption(QStringList{QStringLiteral("m"), QStringLiteral("model")},
                                   QStringLiteral("Model to load: a diffusers folder or a .safetensors file."),
                                   QStringLiteral("path"));
    QCommandLineOption dataDirOption(QStringLiteral("data-dir"), QStringLiteral("Data directory."),
                                     QStringLiteral("dir"));
    QCommandLineOption profileOption(QStringLiteral("profile"), QStringLiteral("Start as this person."),
                                     QStringLiteral("name"));
    parser.addOption(modelOption);
    parser.addOption(dataDirOption);
    parser.addOption(profileOption);
    parser.process(app);

    const StudioSettings settings = StudioSettings::load();
    applyTheme(settings.theme);
    StudioOptions options = studioOptionsFromEnvironment();
    options.dataDir = settings.dataDir;
    options.device = settings.device;
    options.previewInterval = settings.previewInterval;
    if (settings.threads > 0) atelier::set_compute_threads(settings.threads);
    if (parser.isSet(modelOption)) options.modelPath = parser.value(modelOption);
    if (parser.isSet(dataDirOption)) options.dataDir = parser.value(dataDirOption);
    if (parser.isSet(profileOption)) options.profile = parser.value(profileOption);
    options.firstPicture = true;

    MainWindow window(options);
    window.show();
    return app.exec();
}
