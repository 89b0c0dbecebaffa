// Runs tests/engine/store_crash_child.cpp as a child process with its stdout on a pipe.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace store_test {

struct Child {
    pid_t pid = -1;
    int out_fd = -1;
};

inline Child spawn_child(const std::string& data_dir, const std::string& annotator, long count) {
    int fds[2];
    if (::pipe(fds) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(fds[1], 1);
        ::close(fds[0]);
        ::close(fds[1]);
        const std::string n = std::to_string(count);
        ::execl(STORE_CRASH_CHILD, STORE_CRASH_CHILD, data_dir.c_str(), annotator.c_str(), n.c_str(), (char*)nullptr);
        ::_exit(127);
    }
    ::close(fds[1]);
    return {pid, fds[0]};
}

// Reads everything the child printed until it exits (or was killed); returns the acknowledged ids.
inline std::vector<long long> collect_acks(Child& child, int* status = nullptr) {
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(child.out_fd, buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, size_t(n));
    }
    ::close(child.out_fd);
    int st = 0;
    ::waitpid(child.pid, &st, 0);
    if (status) *status = st;
    std::vector<long long> ids;
    size_t pos = 0;
    while ((pos = text.find("ack ", pos)) != std::string::npos) {
        const size_t end = text.find('\n', pos);
        if (end == std::string::npos) break;   // a line cut by the kill was not acknowledged in full
        ids.push_back(std::stoll(text.substr(pos + 4, end - pos - 4)));
        pos = end;
    }
    return ids;
}

}  // namespace store_test
