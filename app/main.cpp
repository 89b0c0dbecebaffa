// atelier: the studio's GUI entry point (thin: the studio itself lives in atelier_app).
#include <QApplication>
#include <QCommandLineParser>
#include <QSurfaceFormat>

#include "MainWindow.h"
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
    parser.addOption(modelOption);
    parser.addOption(dataDirOption);
    parser.process(app);

    StudioOptions options = studioOptionsFromEnvironment();
    if (parser.isSet(modelOption)) options.modelPath = parser.value(modelOption);
    if (parser.isSet(dataDirOption)) options.dataDir = parser.value(dataDirOption);

    MainWindow window(options);
    window.show();
    return app.exec();
}
