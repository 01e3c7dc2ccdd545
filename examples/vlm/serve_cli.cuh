// gsys-vlm serve and gsys-vlm client (included by vlm.cu, which provides
// kProg, bad_usage, fail, count_arg, load_config, human_bytes).
//
// serve: the weights are read once by the loader kernel; then, per request,
// receive_kernel takes a datagram off the socket (gsys::recvfrom), the host
// parses it and builds the prompt, the loader kernel reads the request's
// images (gsys::pread), the prefill runs, and reply_kernel ranks the logits
// and sends the reply (gsys::sendto) and logs it (gsys::write). A bad
// request gets an error reply (send_kernel) and the server goes on.
//
// Why a receive kernel per request and not one resident receiver: the
// engine allocates and frees device memory around each prefill, and
// cudaFree / cudaDeviceSynchronize wait for every kernel on the device, a
// resident one included; a kernel that never ends would hang them.

// Its headers are included by vlm.cu, before its anonymous namespace.

// ------------------------------------------------------------ serve

void serve_usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s serve --model=DIR [OPTION]...\n"
               "Serves prefill requests over UDP. The GPU receives each request (gsys::recvfrom), reads\n"
               "the request's images (gsys::pread), runs the prefill and sends back the top-k next\n"
               "tokens with their logits and the timings (gsys::sendto); each reply is also written to\n"
               "the log (gsys::write). A request is one datagram of JSON:\n"
               "  {\"id\": 7, \"top_k\": 5, \"prompt\": {a prompt spec, see make-prompt}}\n"
               "Image paths are relative to --data or absolute inside it; nothing outside is read.\n"
               "A malformed, oversized or failing request gets {\"id\": .., \"ok\": false, \"error\": ..}\n"
               "and the server goes on. Stop it with SIGINT/SIGTERM, or use --requests.\n\n"
               "  --model=DIR        checkpoint directory (config.json + safetensors)\n"
               "  --port=N           UDP port (default 7700; 0: any free port, printed at start)\n"
               "  --bind=ADDR        IPv4 address to listen on (default 127.0.0.1)\n"
               "  --data=DIR         where request images may be (default: the current directory)\n"
               "  --requests=N       stop after answering N requests (errors included; default: never)\n"
               "  --max-request=N    largest request datagram in bytes (default 16384, at most 65507)\n"
               "  --max-tokens=N     longest prompt served (default 32768)\n"
               "  --log=FILE         append the replies here (default: standard output; \"-\": none)\n"
               "  --executor=KIND    sync, uring, kmod or auto (default)\n"
               "  --help             this text\n"
               "Exit status: 0 after a clean stop, 1 when it cannot start or the socket fails.\n",
               kProg);
}

namespace serve_detail {

std::atomic<bool> stopping{false};

// Runs on its own thread: the first SIGINT/SIGTERM stops the server and
// wakes its receive kernel with a datagram to its own address.
void watch_signals(sigset_t sigs, sockaddr_in self, volatile unsigned* stop_flag)
{
  int sig = 0;
  while (sigwait(&sigs, &sig) == 0) {
    if (sig != SIGINT && sig != SIGTERM) continue;
    stopping = true;
    std::atomic_ref<unsigned>(*const_cast<unsigned*>(stop_flag)).store(1);
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      sendto(fd, "", 0, 0, reinterpret_cast<const sockaddr*>(&self), sizeof self);
      close(fd);
    }
    return;
  }
}

double percentile(std::vector<double> v, double q)
{
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, std::size_t(q * double(v.size() - 1) + 0.5))];
}

}  // namespace serve_detail

int cmd_serve(int argc, char** argv)
{
  const char* cmd = "serve";
  enum { kModel = 256, kPort, kBind, kData, kRequests, kMaxRequest, kMaxTokens, kLog, kExecutor, kHelp };
  static const option opts[] = {
      {"model", required_argument, nullptr, kModel},         {"port", required_argument, nullptr, kPort},
      {"bind", required_argument, nullptr, kBind},           {"data", required_argument, nullptr, kData},
      {"requests", required_argument, nullptr, kRequests},   {"max-request", required_argument, nullptr, kMaxRequest},
      {"max-tokens", required_argument, nullptr, kMaxTokens}, {"log", required_argument, nullptr, kLog},
      {"executor", required_argument, nullptr, kExecutor},   {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0}};
  std::string model, bind_addr = "127.0.0.1", data = ".", log_file;
  std::uint64_t port = 7700, requests = 0, max_request = 16384, max_tokens = 32768;
  gsys::executor_kind executor = gsys::executor_kind::automatic;
  for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
    switch (ch) {
      case kModel: model = optarg; break;
      case kPort: port = count_arg(cmd, "port", optarg, 0, 65535); break;
      case kBind: bind_addr = optarg; break;
      case kData: data = optarg; break;
      case kRequests: requests = count_arg(cmd, "request count", optarg, 1, ~0ull); break;
      case kMaxRequest: max_request = count_arg(cmd, "request size", optarg, 64, 65507); break;
      case kMaxTokens: max_tokens = count_arg(cmd, "token limit", optarg, 1, 1u << 24); break;
      case kLog: log_file = optarg; break;
      case kExecutor:
        if (!ex::parse_executor_arg(optarg, executor)) bad_usage(cmd, "invalid executor", optarg);
        break;
      case kHelp: serve_usage(stdout); return 0;
      default: bad_usage(cmd, "invalid option");
    }
  }
  if (model.empty()) bad_usage(cmd, "--model=DIR is required");
  sockaddr_in self{};
  self.sin_family = AF_INET;
  self.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, bind_addr.c_str(), &self.sin_addr) != 1) bad_usage(cmd, "--bind wants an IPv4 address", bind_addr.c_str());
  {
    char buf[PATH_MAX];
    if (!::realpath(data.c_str(), buf)) fail("--data=" + data + ": " + std::strerror(errno));
    data = buf;
  }
  const vlm::config c = load_config(model);
  vlm::checkpoint_result ck = vlm::open_checkpoint(model);
  if (!ck.ok()) fail(ck.error);
  const vlm::weight_plan plan = vlm::plan_weights(ck.ckpt, c);
  if (!plan.ok()) fail(plan.error);
  int log_fd = 1;
  if (log_file == "-") log_fd = -1;
  else if (!log_file.empty() && (log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
    fail(log_file + ": " + std::strerror(errno));
  if (!ex::require_device(kProg)) return 1;

  // Signals go to the watcher thread alone: block them before any other
  // thread (the executor's) exists.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0)
    fail("cannot bind " + bind_addr + ":" + std::to_string(port) + ": " + std::strerror(errno));
  socklen_t self_len = sizeof self;
  getsockname(fd, reinterpret_cast<sockaddr*>(&self), &self_len);
  const unsigned bound_port = ntohs(self.sin_port);
  if (self.sin_addr.s_addr == htonl(INADDR_ANY)) self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // for the wake-up

  try {
    gsys::runtime_options ro;
    ro.executor = executor;
    ro.timeout = std::chrono::hours(24);  // the receive waits as long as no client comes
    gsys::runtime rt(ro);
    vlm::device_model m;
    const vlm::load_report lw = vlm::load_weights(rt, ck.ckpt, plan, c, m);
    std::printf("%s serve: model %s: hidden %lld, %lld layers, vocab %lld: %s loaded by the GPU in %.3f s "
                "(%.2f GB/s, gsys::pread), %s executor\n",
                kProg, model.c_str(), (long long)c.hidden, (long long)c.layers, (long long)c.vocab,
                human_bytes(double(lw.bytes)).c_str(), lw.seconds, lw.gbps(), gsys::to_string(rt.executor()));
    std::printf("%s serve: listening on %s:%u (UDP), images from %s\n", kProg, bind_addr.c_str(), bound_port,
                data.c_str());
    std::fflush(stdout);

    auto* stop_flag = static_cast<unsigned*>(rt.alloc(sizeof(unsigned)));
    vlm::serve_io io{};
    io.ring = rt.ring();
    io.fd = fd;
    io.log_fd = log_fd;
    io.rx_cap = 65536;
    io.rx = static_cast<char*>(rt.alloc(io.rx_cap));
    io.max_request = unsigned(max_request);
    io.tx_cap = 8192;
    io.tx = static_cast<char*>(rt.alloc(io.tx_cap));
    io.peer = static_cast<sockaddr_storage*>(rt.alloc(sizeof(sockaddr_storage)));
    io.peer_len = static_cast<unsigned*>(rt.alloc(sizeof(unsigned)));
    io.stop = stop_flag;
    io.rx_len = static_cast<long long*>(rt.alloc(sizeof(long long)));
    io.refused = static_cast<unsigned long long*>(rt.alloc(sizeof(unsigned long long)));
    auto* sent = static_cast<long long*>(rt.alloc(sizeof(long long)));
    vlm::device_array<float> logits(std::size_t(c.vocab));
    std::thread watcher(serve_detail::watch_signals, sigs, self, stop_flag);
    watcher.detach();

    std::uint64_t answered = 0, errors = 0;
    std::vector<double> server_ms;
    auto send_error = [&](std::optional<std::int64_t> id, const std::string& msg) {
      // Room for the log's newline too (send_and_log).
      const std::string text = vlm::error_reply(id, msg, io.tx_cap - 1);
      std::memcpy(io.tx, text.data(), text.size());
      std::fflush(stdout);
      gsys::launch(vlm::send_kernel, dim3(1), dim3(1), io, unsigned(text.size()), sent);
      gsys::synchronize();
      ++errors;
    };
    int status = 0;
    for (;;) {
      if (std::atomic_ref<unsigned>(*stop_flag).load()) break;
      gsys::launch(vlm::receive_kernel, dim3(1), dim3(1), io);
      gsys::synchronize();
      if (std::atomic_ref<unsigned>(*stop_flag).load()) break;  // (an empty datagram is a bad request)
      if (*io.rx_len < 0) {
        std::fprintf(stderr, "%s serve: receiving failed: %s\n", kProg, std::strerror(int(-*io.rx_len)));
        status = 1;
        break;
      }
      const auto t0 = std::chrono::steady_clock::now();
      *sent = 0;
      vlm::request_result rq = vlm::parse_request(std::string_view(io.rx, std::size_t(*io.rx_len)), data);
      std::optional<vlm::prompt_result> pr;
      std::string err = rq.error;
      if (err.empty()) err = vlm::confine_images(rq.req.spec, data);
      if (err.empty()) {
        pr = vlm::build_prompt(rq.req.spec, c);
        err = pr->error;
      }
      if (err.empty() && std::uint64_t(pr->p.size()) > max_tokens)
        err = "prompt of " + std::to_string(pr->p.size()) + " tokens: the server takes at most " +
              std::to_string(max_tokens);
      if (err.empty()) {
        try {
          const vlm::load_report li = vlm::load_images(rt, pr->p, m);
          vlm::device_prompt dp(pr->p);
          vlm::prefill_options po;
          po.device_logits = logits.p;
          const vlm::prefill_report r = vlm::run_prefill(m, dp, po);
          vlm::reply_args a{};
          a.io = io;
          a.logits = logits.p;
          a.vocab = int(c.vocab);
          a.top_k = rq.req.top_k;
          a.id = rq.req.id;
          a.tokens = pr->p.size();
          a.images = int(pr->p.images.size());
          a.load_ms = li.seconds * 1e3;
          a.prefill_ms = r.total_s() * 1e3;
          a.sent = sent;
          std::fflush(stdout);
          gsys::launch(vlm::reply_kernel, dim3(1), dim3(vlm::kReplyThreads), a);
          gsys::synchronize();
        } catch (const std::exception& e) {
          err = e.what();
        }
      }
      if (!err.empty()) send_error(rq.id, err);
      if (*sent < 0)
        std::fprintf(stderr, "%s serve: reply to request %lld not sent: %s\n", kProg, (long long)rq.req.id,
                     std::strerror(int(-*sent)));
      server_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      ++answered;
      // The receive kernel answered the oversized ones itself: they count too.
      if (requests && answered + *io.refused >= requests) break;
    }
    std::printf("%s serve: stopped (%s): %llu requests answered (%llu errors, of which %llu oversized datagrams "
                "the receive kernel answered itself); server time p50 %.1f ms, max %.1f ms\n",
                kProg, serve_detail::stopping ? "signal" : status ? "socket error" : "--requests reached",
                (unsigned long long)(answered + *io.refused), (unsigned long long)(errors + *io.refused),
                (unsigned long long)*io.refused,
                serve_detail::percentile(server_ms, 0.5), serve_detail::percentile(server_ms, 1.0));
    std::fflush(stdout);
    ::close(fd);
    return status;
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

// ------------------------------------------------------------ client

void client_usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s client --port=N --prompt=FILE [OPTION]...\n"
               "Sends prefill requests to a gsys-vlm server, one at a time, and prints each reply's top\n"
               "tokens and the latency percentiles. The prompt's image paths are sent absolute: the\n"
               "server reads the files itself (they must lie in its --data directory).\n\n"
               "  --port=N           the server's UDP port\n"
               "  --host=ADDR        the server's IPv4 address (default 127.0.0.1)\n"
               "  --prompt=FILE      prompt spec (see make-prompt)\n"
               "  --requests=N       how many times to send it (default 1)\n"
               "  --top-k=N          tokens to ask for (default 5, at most 64)\n"
               "  --timeout=SECONDS  wait this long for each reply (default 120)\n"
               "  --raw=TEXT         send TEXT as the request instead (for testing a server) and print\n"
               "                     the reply as received\n"
               "  --help             this text\n"
               "Exit status: 0 when every request was answered ok, 1 otherwise.\n",
               kProg);
}

int cmd_client(int argc, char** argv)
{
  const char* cmd = "client";
  enum { kPort = 256, kHost, kPrompt, kRequests, kTopK, kTimeout, kRaw, kHelp };
  static const option opts[] = {
      {"port", required_argument, nullptr, kPort},         {"host", required_argument, nullptr, kHost},
      {"prompt", required_argument, nullptr, kPrompt},     {"requests", required_argument, nullptr, kRequests},
      {"top-k", required_argument, nullptr, kTopK},        {"timeout", required_argument, nullptr, kTimeout},
      {"raw", required_argument, nullptr, kRaw},           {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0}};
  std::string host = "127.0.0.1", prompt_file;
  std::optional<std::string> raw;
  std::uint64_t port = 0, requests = 1, topk = 5, timeout_s = 120;
  for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
    switch (ch) {
      case kPort: port = count_arg(cmd, "port", optarg, 1, 65535); break;
      case kHost: host = optarg; break;
      case kPrompt: prompt_file = optarg; break;
      case kRequests: requests = count_arg(cmd, "request count", optarg, 1, 1000000); break;
      case kTopK: topk = count_arg(cmd, "top-k", optarg, 1, vlm::kMaxTopK); break;
      case kTimeout: timeout_s = count_arg(cmd, "timeout", optarg, 1, 86400); break;
      case kRaw: raw = optarg; break;
      case kHelp: client_usage(stdout); return 0;
      default: bad_usage(cmd, "invalid option");
    }
  }
  if (!port || (prompt_file.empty() && !raw)) bad_usage(cmd, "--port=N and --prompt=FILE (or --raw) are required");
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host.c_str(), &to.sin_addr) != 1) bad_usage(cmd, "--host wants an IPv4 address", host.c_str());
  vlm::prompt_spec spec;
  if (!raw) {
    vlm::spec_result s = vlm::load_prompt_spec(prompt_file);
    if (!s.ok()) fail(s.error);
    spec = std::move(s.spec);
    char buf[PATH_MAX];
    for (auto& seg : spec.content)
      if (seg.is_image) {
        if (!::realpath(seg.image.file.c_str(), buf)) fail(seg.image.file + ": " + std::strerror(errno));
        seg.image.file = buf;
      }
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
    fail(host + ":" + std::to_string(port) + ": " + std::strerror(errno));
  std::mt19937_64 rng(std::random_device{}());
  const std::int64_t base = std::int64_t(rng() >> 34);  // ids of this run: base, base + 1, ...
  std::vector<double> rtt_ms;
  int status = 0;
  std::vector<char> buf(65536);
  for (std::uint64_t i = 0; i < requests; ++i) {
    const std::int64_t id = base + std::int64_t(i);
    const std::string text = raw ? *raw : vlm::request_json(id, int(topk), spec);
    const auto t0 = std::chrono::steady_clock::now();
    if (send(fd, text.data(), text.size(), 0) < 0) fail(std::string("send: ") + std::strerror(errno));
    // Wait for this request's reply; a stale reply (an earlier id) is skipped.
    std::optional<vlm::reply> got;
    std::string got_raw;
    const auto deadline = t0 + std::chrono::seconds(timeout_s);
    while (!got) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) break;
      const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n < 0) {
        std::fprintf(stderr, "%s client: %s\n", kProg, std::strerror(errno));
        break;
      }
      got_raw.assign(buf.data(), std::size_t(n));
      vlm::reply_result rr = vlm::parse_reply(got_raw);
      if (!rr.ok()) {
        std::fprintf(stderr, "%s client: not a reply: %s\n", kProg, rr.error.c_str());
        continue;
      }
      if (raw || rr.r.id == id || rr.r.id < 0) got = rr.r;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!got) {
      std::printf("request %llu: no reply within %llu s\n", (unsigned long long)i, (unsigned long long)timeout_s);
      status = 1;
      continue;
    }
    if (raw) std::printf("%s\n", got_raw.c_str());
    if (!got->ok) {
      std::printf("request %llu: error: %s\n", (unsigned long long)i, got->error.c_str());
      status = 1;
      continue;
    }
    rtt_ms.push_back(ms);
    std::string top;
    for (const auto& [tok, logit] : got->top) {
      char b[48];
      std::snprintf(b, sizeof b, "%s%lld (%.4f)", top.empty() ? "" : ", ", (long long)tok, logit);
      top += b;
    }
    std::printf("request %llu: %lld tokens, %lld images: top %s; load %.2f ms, prefill %.2f ms, round trip %.2f ms\n",
                (unsigned long long)i, (long long)got->tokens, (long long)got->images, top.c_str(), got->load_ms,
                got->prefill_ms, ms);
  }
  close(fd);
  if (!rtt_ms.empty())
    std::printf("%s client: %zu of %llu answered; round trip p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                kProg, rtt_ms.size(), (unsigned long long)requests, serve_detail::percentile(rtt_ms, 0.5),
                serve_detail::percentile(rtt_ms, 0.9), serve_detail::percentile(rtt_ms, 0.99),
                serve_detail::percentile(rtt_ms, 1.0));
  return status;
}
