// Runs the build's atelier-cli (ATELIER_CLI_PATH) for the engine tests; include after doctest.
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

struct CliRun {
    int code = -1;
    std::string output;  // stdout and stderr
};

// `global_options` go before the command ("--threads 1", "--data-dir DIR ...").
inline CliRun run_cli(const std::string& args, const std::string& global_options = "--threads 1") {
    CliRun r;
    const std::string command = "'" + std::string(ATELIER_CLI_PATH) + "' " + global_options + " " + args + " 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    REQUIRE(pipe);
    std::array<char, 4096> buffer{};
    size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) r.output.append(buffer.data(), n);
    const int status = pclose(pipe.release());
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}
