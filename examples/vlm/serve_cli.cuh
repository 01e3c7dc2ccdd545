// gsys-vlm serve and gsys-vlm client (included by vlm.cu, which provides
// kProg, bad_usage, fail, count_arg, load_config, human_bytes).
//
// serve: the weights are read once by the loader kernel; then the receiver
// kernel starts on a stream of its own and stays resident, taking each
// datagram off the socket (gsys::recvfrom) into a queue of request slots.
// The host serves the queue in order: it parses a request and builds the
// prompt, the loader kernel reads the request's images (gsys::pread), the
// prefill runs, and reply_kernel ranks the logits, sends the reply
// (gsys::sendto) and logs it (gsys::write). A bad request gets an error
// reply (send_kernel) and the server goes on.
//
// A kernel that never ends constrains everything else on the device: the
// serving path waits for the default stream only (cudaDeviceSynchronize
// would wait for the receiver), and allocates nothing that a free would have
// to wait for (cudaFree, cudaFreeHost wait for every kernel): activations
// come from the stream-ordered pool (ex::scratch_alloc), the loader's pinned
// windows from one loader_workspace made before the receiver starts.

// Its headers are included by vlm.cu, before its anonymous namespace.

// ------------------------------------------------------------ serve

void serve_usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s serve --model=DIR [OPTION]...\n"
               "Serves prefill requests over UDP. A GPU kernel resident for the server's life receives\n"
               "the requests (gsys::recvfrom) into a queue; for each, the GPU reads the request's images\n"
               "(gsys::pread), runs the prefill and sends back the top-k next tokens with their logits\n"
               "and the timings (gsys::sendto); each reply is also written to the log (gsys::write).\n"
               "A request is one datagram of JSON:\n"
               "  {\"id\": 7, \"top_k\": 5, \"prompt\": {a prompt spec, see make-prompt}}\n"
               "Image paths are relative to --data or absolute inside it; nothing outside is read.\n"
               "A malformed, oversized or failing request gets {\"id\": .., \"ok\": false, \"error\": ..}\n"
               "and the server goes on. Stop it with SIGINT/SIGTERM, or use --requests.\n\n"
               "  --model=DIR        checkpoint directory (config.json + safetensors)\n"
               "  --port=N           UDP port (default 7700; 0: any free port, printed at start)\n"
               "  --bind=ADDR        IPv4 address to listen on (default 127.0.0.1)\n"
               "  --data=DIR         where request images may be, a directory (default: the current one)\n"
               "  --requests=N       stop after answering N requests (errors included; default: never)\n"
               "  --max-request=N    largest request datagram in bytes (default 16384, at most 65507)\n"
               "  --max-tokens=N     longest prompt served (default 32768)\n"
               "  --max-images=N     most images in one prompt (default 64)\n"
               "  --queue=N          requests the GPU receives ahead while one is served (default 8)\n"
               "  --log=FILE         append the replies here (default: standard output; \"-\": none)\n"
               "  --executor=KIND    sync, uring, kmod or auto (default)\n"
               "  --help             this text\n"
               "Exit status: 0 after a clean stop, 1 when it cannot start or the socket fails, 2 on a\n"
               "usage error (a bad option, --data not a directory).\n",
               kProg);
}

namespace serve_detail {

std::atomic<bool> stopping{false};

// Sets the stop flag, then sends an empty datagram to the server's own
// socket: the receiver's recvfrom returns and it sees the flag.
void ask_to_stop(const sockaddr_in& self, unsigned* stop_flag)
{
  std::atomic_ref<unsigned>(*stop_flag).store(1);
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sendto(fd, "", 0, 0, reinterpret_cast<const sockaddr*>(&self), sizeof self);
  close(fd);
}

// Runs on its own thread: the first SIGINT/SIGTERM stops the server.
void watch_signals(sigset_t sigs, sockaddr_in self, unsigned* stop_flag)
{
  int sig = 0;
  while (sigwait(&sigs, &sig) == 0) {
    if (sig != SIGINT && sig != SIGTERM) continue;
    stopping = true;
    ask_to_stop(self, stop_flag);
    return;
  }
}

// Stops the resident receiver (the flag, then a datagram to wake its
// recvfrom) and waits for it: explicitly, or when an exception leaves the
// server, before the memory it uses is freed (cudaFreeHost would wait for it
// for good).
struct receiver_guard {
  gsys::stream stream;
  sockaddr_in self;
  unsigned* flag;
  bool stopped = false;
  receiver_guard(sockaddr_in s, unsigned* f) : self(s), flag(f) {}
  receiver_guard(const receiver_guard&) = delete;
  receiver_guard& operator=(const receiver_guard&) = delete;
  void stop()
  {
    if (stopped) return;
    stopped = true;
    ask_to_stop(self, flag);
    gsys::synchronize(stream);
  }
  ~receiver_guard()
  {
    try {
      stop();
    } catch (...) {
    }
  }
};

}  // namespace serve_detail

int cmd_serve(int argc, char** argv)
{
  const char* cmd = "serve";
  enum { kModel = 256, kPort, kBind, kData, kRequests, kMaxRequest, kMaxTokens, kMaxImages, kQueue, kLog, kExecutor, kHelp };
  static const option opts[] = {
      {"model", required_argument, nullptr, kModel},         {"port", required_argument, nullptr, kPort},
      {"bind", required_argument, nullptr, kBind},           {"data", required_argument, nullptr, kData},
      {"requests", required_argument, nullptr, kRequests},   {"max-request", required_argument, nullptr, kMaxRequest},
      {"max-tokens", required_argument, nullptr, kMaxTokens}, {"max-images", required_argument, nullptr, kMaxImages},
      {"queue", required_argument, nullptr, kQueue},         {"log", required_argument, nullptr, kLog},
      {"executor", required_argument, nullptr, kExecutor},   {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0}};
  std::string model, bind_addr = "127.0.0.1", data = ".", log_file;
  std::uint64_t port = 7700, requests = 0, max_request = 16384, max_tokens = 32768, max_images = 64, queue = 8;
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
      case kMaxImages: max_images = count_arg(cmd, "image limit", optarg, 1, 4096); break;
      case kQueue: queue = count_arg(cmd, "queue length", optarg, 1, 1024); break;
      case kLog: log_file = optarg; break;
      case kExecutor:
        if (!ex::parse_executor_arg(optarg, executor)) bad_usage(cmd, "invalid executor", optarg);
        break;
      case kHelp: serve_usage(stdout); return 0;
      default: try_help(cmd);
    }
  }
  if (model.empty()) bad_usage(cmd, "--model=DIR is required");
  sockaddr_in self{};
  self.sin_family = AF_INET;
  self.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, bind_addr.c_str(), &self.sin_addr) != 1) bad_usage(cmd, "--bind wants an IPv4 address", bind_addr.c_str());
  {
    // Before anything is loaded: a server whose every image request would
    // fail is a usage error.
    struct stat st {};
    const char* why = ::stat(data.c_str(), &st) != 0 ? std::strerror(errno)
                      : !S_ISDIR(st.st_mode)         ? "not a directory"
                                                     : nullptr;
    if (why) bad_usage(cmd, ("--data must be a directory: " + data + ": " + why).c_str());
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
    io.max_request = unsigned(max_request);
    io.tx_cap = 8192;
    io.tx = static_cast<char*>(rt.alloc(io.tx_cap));
    io.stop = stop_flag;
    io.refused = static_cast<unsigned long long*>(rt.alloc(sizeof(unsigned long long)));
    vlm::request_queue q{};
    q.slots = unsigned(queue);
    q.state = static_cast<unsigned*>(rt.alloc(q.slots * sizeof(unsigned)));
    q.len = static_cast<long long*>(rt.alloc(q.slots * sizeof(long long)));
    q.rx = static_cast<char*>(rt.alloc(std::size_t(q.slots) * io.rx_cap));
    q.peer = static_cast<sockaddr_storage*>(rt.alloc(q.slots * sizeof(sockaddr_storage)));
    q.peer_len = static_cast<unsigned*>(rt.alloc(q.slots * sizeof(unsigned)));
    auto* sent = static_cast<long long*>(rt.alloc(sizeof(long long)));
    vlm::device_array<float> logits(std::size_t(c.vocab));
    vlm::loader_workspace images_ws(rt, std::size_t(max_images), GSYS_CUDA ? 64u : 16u);
    std::thread watcher(serve_detail::watch_signals, sigs, self, stop_flag);
    watcher.detach();

    // The receiver answers oversized datagrams from a reply buffer of its own.
    vlm::serve_io rx_io = io;
    rx_io.tx = static_cast<char*>(rt.alloc(io.tx_cap));
    serve_detail::receiver_guard receiver(self, stop_flag);
    gsys::launch(vlm::receiver_kernel, dim3(1), dim3(1), receiver.stream, rx_io, q);

    std::uint64_t answered = 0, errors = 0;
    std::vector<double> server_ms;
    auto send_error = [&](const vlm::serve_io& to, std::optional<std::int64_t> id, const std::string& msg) {
      // Room for the log's newline too (send_and_log).
      const std::string text = vlm::error_reply(id, msg, io.tx_cap - 1);
      std::memcpy(io.tx, text.data(), text.size());
      std::fflush(stdout);
      gsys::launch(vlm::send_kernel, dim3(1), dim3(1), to, unsigned(text.size()), sent);
      gsys::synchronize(gsys::default_stream);
      ++errors;
    };
    auto stop_requested = [&] { return std::atomic_ref<unsigned>(*stop_flag).load() != 0; };
    int status = 0;
    for (;;) {
      // Slots are filled in turn and each pass answers one: the next is
      // answered % slots.
      const unsigned slot = unsigned(answered % q.slots);
      std::atomic_ref<unsigned> state(q.state[slot]);
      while (state.load(std::memory_order_acquire) != 1 && !stop_requested())
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (stop_requested()) break;
      const long long len = q.len[slot];
      if (len < 0) {
        std::fprintf(stderr, "%s serve: receiving failed: %s\n", kProg, std::strerror(int(-len)));
        status = 1;
        break;
      }
      const vlm::serve_io to = vlm::slot_io(io, q, slot);
      const auto t0 = std::chrono::steady_clock::now();
      *sent = 0;
      // (an empty datagram is a bad request)
      vlm::request_result rq = vlm::parse_request(std::string_view(to.rx, std::size_t(len)), data);
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
      if (err.empty() && pr->p.images.size() > max_images)
        err = "prompt with " + std::to_string(pr->p.images.size()) + " images: the server takes at most " +
              std::to_string(max_images);
      if (err.empty()) {
        try {
          const vlm::load_report li = vlm::load_images(rt, pr->p, m, {}, &images_ws);
          vlm::device_prompt dp(pr->p);
          vlm::prefill_options po;
          po.device_logits = logits.p;
          const vlm::prefill_report r = vlm::run_prefill(m, dp, po);
          vlm::reply_args a{};
          a.io = to;
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
          gsys::synchronize(gsys::default_stream);
        } catch (const std::exception& e) {
          err = e.what();
        }
      }
      if (!err.empty()) send_error(to, rq.id, err);
      if (*sent < 0)
        std::fprintf(stderr, "%s serve: reply to request %lld not sent: %s\n", kProg, (long long)rq.req.id,
                     std::strerror(int(-*sent)));
      state.store(0, std::memory_order_release);  // the receiver may fill the slot again
      server_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      ++answered;
      // The receiver answered the oversized ones itself: they count too.
      if (requests && answered + std::atomic_ref<unsigned long long>(*io.refused).load() >= requests) break;
    }
    receiver.stop();
    std::printf("%s serve: stopped (%s): %llu requests answered (%llu errors, of which %llu oversized datagrams "
                "the receiver answered itself); server time p50 %.1f ms, max %.1f ms\n",
                kProg, serve_detail::stopping ? "signal" : status ? "socket error" : "--requests reached",
                (unsigned long long)(answered + *io.refused), (unsigned long long)(errors + *io.refused),
                (unsigned long long)*io.refused,
                ex::percentile(server_ms, 50), ex::percentile(server_ms, 100));
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
               "Sends prefill requests to a gsys-vlm server, --in-flight at a time, and prints each\n"
               "reply's top tokens and the latency percentiles. The prompt's image paths are sent\n"
               "absolute: the server reads the files itself (they must lie in its --data directory).\n\n"
               "  --port=N           the server's UDP port\n"
               "  --host=ADDR        the server's IPv4 address (default 127.0.0.1)\n"
               "  --prompt=FILE      prompt spec (see make-prompt)\n"
               "  --requests=N       how many times to send it (default 1)\n"
               "  --in-flight=N      requests sent before waiting for a reply (default 1)\n"
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
  enum { kPort = 256, kHost, kPrompt, kRequests, kInFlight, kTopK, kTimeout, kRaw, kHelp };
  static const option opts[] = {
      {"port", required_argument, nullptr, kPort},         {"host", required_argument, nullptr, kHost},
      {"prompt", required_argument, nullptr, kPrompt},     {"requests", required_argument, nullptr, kRequests},
      {"in-flight", required_argument, nullptr, kInFlight}, {"top-k", required_argument, nullptr, kTopK},
      {"timeout", required_argument, nullptr, kTimeout},
      {"raw", required_argument, nullptr, kRaw},           {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0}};
  std::string host = "127.0.0.1", prompt_file;
  std::optional<std::string> raw;
  std::uint64_t port = 0, requests = 1, in_flight = 1, topk = 5, timeout_s = 120;
  for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
    switch (ch) {
      case kPort: port = count_arg(cmd, "port", optarg, 1, 65535); break;
      case kHost: host = optarg; break;
      case kPrompt: prompt_file = optarg; break;
      case kRequests: requests = count_arg(cmd, "request count", optarg, 1, 1000000); break;
      case kInFlight: in_flight = count_arg(cmd, "requests in flight", optarg, 1, 1024); break;
      case kTopK: topk = count_arg(cmd, "top-k", optarg, 1, vlm::kMaxTopK); break;
      case kTimeout: timeout_s = count_arg(cmd, "timeout", optarg, 1, 86400); break;
      case kRaw: raw = optarg; break;
      case kHelp: client_usage(stdout); return 0;
      default: try_help(cmd);
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
  using clock = std::chrono::steady_clock;
  std::map<std::int64_t, clock::time_point> pending;  // id -> when it was sent (ids grow: oldest first)
  std::uint64_t sent = 0;
  while (sent < requests || !pending.empty()) {
    for (; sent < requests && pending.size() < in_flight; ++sent) {
      const std::int64_t id = base + std::int64_t(sent);
      const std::string text = raw ? *raw : vlm::request_json(id, int(topk), spec);
      pending.emplace(id, clock::now());
      if (send(fd, text.data(), text.size(), 0) < 0) fail(std::string("send: ") + std::strerror(errno));
    }
    // A reply, or the oldest request's deadline.
    const auto deadline = pending.begin()->second + std::chrono::seconds(timeout_s);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) {
      std::printf("request %llu: no reply within %llu s\n", (unsigned long long)(pending.begin()->first - base),
                  (unsigned long long)timeout_s);
      status = 1;
      pending.erase(pending.begin());
      continue;
    }
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      std::fprintf(stderr, "%s client: %s\n", kProg, std::strerror(errno));
      status = 1;
      break;
    }
    const std::string got_raw(buf.data(), std::size_t(n));
    vlm::reply_result rr = vlm::parse_reply(got_raw);
    if (!rr.ok()) {
      std::fprintf(stderr, "%s client: not a reply: %s\n", kProg, rr.error.c_str());
      continue;
    }
    const vlm::reply& got = rr.r;
    // A reply names its request; one without an id (raw text, an oversized
    // request) is the oldest's. A stale id (an earlier run's) is skipped.
    auto it = raw || got.id < 0 ? pending.begin() : pending.find(got.id);
    if (it == pending.end()) continue;
    const std::uint64_t i = std::uint64_t(it->first - base);
    const double ms = std::chrono::duration<double, std::milli>(clock::now() - it->second).count();
    pending.erase(it);
    if (raw) std::printf("%s\n", got_raw.c_str());
    if (!got.ok) {
      std::printf("request %llu: error: %s\n", (unsigned long long)i, got.error.c_str());
      status = 1;
      continue;
    }
    rtt_ms.push_back(ms);
    std::string top;
    for (const auto& [tok, logit] : got.top) {
      char b[48];
      std::snprintf(b, sizeof b, "%s%lld (%.4f)", top.empty() ? "" : ", ", (long long)tok, logit);
      top += b;
    }
    std::printf("request %llu: %lld tokens, %lld images: top %s; load %.2f ms, prefill %.2f ms, round trip %.2f ms\n",
                (unsigned long long)i, (long long)got.tokens, (long long)got.images, top.c_str(), got.load_ms,
                got.prefill_ms, ms);
  }
  close(fd);
  if (!rtt_ms.empty())
    std::printf("%s client: %zu of %llu answered; round trip p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                kProg, rtt_ms.size(), (unsigned long long)requests, ex::percentile(rtt_ms, 50),
                ex::percentile(rtt_ms, 90), ex::percentile(rtt_ms, 99),
                ex::percentile(rtt_ms, 100));
  return status;
}
