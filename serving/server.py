"""The built-in server: loads the models, serves gRPC and REST, polls for new versions and config changes.

As TF Serving does, it opens its ports only once every configured model has an AVAILABLE version (waiting for a
first version to appear) and exits with an error if one fails to load then. On SIGTERM (what a Kubernetes rollout
sends) or Ctrl-C it stops accepting connections and answers every request it has received (serving/drain.py): those
still running after --drain_seconds get UNAVAILABLE. Then it writes out the request logs and exits 0.
The routing file (--routing_config_file, serving/routing.py) is read at start, before the model config in each poll
of it, and on every HandleReloadConfigRequest: a writer that writes the routing file first and the model config
second never exposes a canary to name-only requests before its weight applies. A bad routing file keeps the previous
routing, and the model config change waits for a good one.
"""

import asyncio
import logging
import signal
import sys
import threading
import time
from typing import TextIO

import tensorflow as tf
from aiohttp import web
from tensorflow_serving.config.model_server_config_pb2 import ModelServerConfig

from serving import config as config_lib
from serving.batching import BatchScheduler
from serving.drain import GOAWAY_SECONDS, Drain
from serving.grpc_service import ModelService, PredictionService, start_grpc_server
from serving.limits import RequestLimits
from serving.manager import LoadSettings, ModelManager, Poller
from serving.metrics import Metrics
from serving.options import ServerOptions, grpc_arguments
from serving.request_log import RequestLogs
from serving.rest import RestApi
from serving.routing import RoutingError
from serving.service import InferenceService
from serving.status import ServingError, invalid_argument

logger = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """A configured model did not become available when the server started."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Server:
    """Everything one `serve` process runs; `run()` blocks until SIGTERM/SIGINT."""

    def __init__(self, options: ServerOptions):
        self.options = options
        if options.tensorflow_intra_op_parallelism:
            tf.config.threading.set_intra_op_parallelism_threads(options.tensorflow_intra_op_parallelism)
        if options.tensorflow_inter_op_parallelism:
            tf.config.threading.set_inter_op_parallelism_threads(options.tensorflow_inter_op_parallelism)
        self.metrics = Metrics()
        self.metrics_path = config_lib.monitoring_path(options)
        config = config_lib.model_server_config(options)
        batching = config_lib.batching_parameters(options) if options.enable_batching else None
        settings = LoadSettings(
            warmup=options.enable_model_warmup,
            warmup_iterations=options.num_request_iterations_for_warmup,
            max_retries=options.max_num_load_retries,
            retry_interval=options.load_retry_interval_micros / 1e6,
            tags=tuple(tag.strip() for tag in options.saved_model_tags.split(",") if tag.strip()),
            method_name_check=options.enable_signature_method_name_check,
            allow_labels_for_unavailable=options.allow_version_labels_for_unavailable_models,
        )
        self.manager = ModelManager(
            config,
            settings,
            on_load=self.metrics.load,
            on_warmup=self.metrics.warmup,
            on_run=self.metrics.runtime,
            on_files_changed=self.metrics.files_changed,
        )
        self.request_logs = RequestLogs(options.request_log_max_file_bytes, self.metrics)
        self.request_logs.configure(config.model_config_list.config)
        batcher = BatchScheduler(batching, self.metrics.batch) if batching is not None else None
        self.service = InferenceService(self.manager, self.metrics, self.request_logs, batcher,
                                        options.rest_api_num_threads, options.routing_config_file,
                                        options.shadow_queue_size)  # fmt: skip
        self.service.router.reload()  # a bad file stops the start (RoutingError, a ConfigError's sibling)
        self._config_text = self._read_config_text()
        self._reload_lock = threading.Lock()
        self._routing_error: str | None = None

    # ---- configuration changes ------------------------------------------------------------------------------------
    def reload_config(self, config: ModelServerConfig) -> None:
        """HandleReloadConfigRequest: check, apply, load what it asks for, then move the labels (or refuse them)."""
        config_lib.check_model_server_config(config, "ReloadConfigRequest")
        with self._reload_lock:
            self._reload_routing()
            self.manager.apply_config(config)
            self.request_logs.configure(config.model_config_list.config)
            self.manager.initial_load()
            self.manager.assign_labels()

    def _read_config_text(self) -> str | None:
        path = self.options.model_config_file
        if not path:
            return None
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return None

    def _reload_routing(self) -> None:
        """Re-reads the routing file; a bad one is INVALID_ARGUMENT and the previous routing stays."""
        try:
            if self.service.router.reload():
                logger.info("routing file changed: %s", self.service.router.config.model_dump_json())
        except RoutingError as error:
            raise invalid_argument(f"routing file not applied, the previous routing stays: {error}") from None

    def _poll_config_file(self) -> None:
        try:
            with self._reload_lock:
                self._reload_routing()  # before the model config: see the module's docstring
        except ServingError as error:
            if error.message != self._routing_error:  # said once per bad file, not every poll
                logger.error("%s; the model config waits for a good one", error.message)
                self._routing_error = error.message
            return
        self._routing_error = None
        if not self.options.model_config_file:
            return
        text = self._read_config_text()
        if text is None or text == self._config_text:
            return
        self._config_text = text
        try:
            config = config_lib.read_model_config_file(self.options.model_config_file)
            logger.info("model config file changed: reloading %s", self.options.model_config_file)
            self.reload_config(config)
        except (config_lib.ConfigError, ServingError) as error:
            logger.error("model config not fully applied, the previous labels stay: %s", error)

    # ---- running --------------------------------------------------------------------------------------------------
    def run(self, announce: TextIO = sys.stdout) -> int:
        """Serves until SIGTERM/SIGINT (0), or returns 1 if a model does not become available at start-up."""
        try:
            self._load_before_serving(announce)
        except (StartupError, ServingError) as error:
            print(f"error: {getattr(error, 'message', error)}", file=sys.stderr)
            self.service.close()
            self.request_logs.close()
            return 1
        return asyncio.run(self._serve(announce))

    def _load_before_serving(self, announce: TextIO) -> None:
        self.manager.initial_load()
        waiting: set[str] = set()
        while missing := self.manager.unavailable():
            failed = {name: reason for name, (did_fail, reason) in missing.items() if did_fail}
            if failed:
                raise StartupError("; ".join(f"model '{n}' did not become available: {r}" for n, r in failed.items()))
            for name in set(missing) - waiting:
                print(f"waiting for model '{name}': {missing[name][1]}", file=announce, flush=True)
            waiting |= set(missing)
            time.sleep(max(1, self.options.file_system_poll_wait_seconds))
            self.manager.poll()
        self.manager.assign_labels()

    async def _serve(self, announce: TextIO) -> int:
        options = self.options
        drain = Drain(self.metrics)
        request_limits = RequestLimits.from_options(options)
        addresses = [_address(options.host, options.port)] if options.port else []
        if options.grpc_socket_path:
            addresses.append(f"unix:{options.grpc_socket_path}")
        grpc_server = await start_grpc_server(
            addresses,
            PredictionService(
                self.service,
                self.metrics,
                options.enable_serialization_as_tensor_content,
                request_limits=request_limits,
            ),
            ModelService(self.service, self.reload_config),
            grpc_arguments(options),
            [drain.grpc_interceptor()],
        )
        runner, site = None, None
        if options.rest_api_port:
            timeout = options.rest_api_timeout_in_ms / 1000 or None
            api = RestApi(self.service, self.metrics, timeout, options.rest_api_max_request_bytes,
                          self.metrics_path, options.rest_api_enable_cors_support,
                          request_limits=request_limits)  # fmt: skip
            api.app.middlewares.append(drain.rest)
            # By cleanup time nothing runs any more (see _drain): the timeout only bounds a client still uploading.
            runner = web.AppRunner(api.app, access_log=None, shutdown_timeout=0.5)
            await runner.setup()
            site = web.TCPSite(runner, options.host, options.rest_api_port)
            try:
                await site.start()
            except OSError as error:
                await grpc_server.stop(0)
                where = _address(options.host, options.rest_api_port)
                raise OSError(f"cannot listen for REST on {where}: {error.strerror}") from None
        pollers = self._start_pollers()
        self._announce(announce, addresses)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        print("stopping: finishing requests in flight...", file=announce, flush=True)
        for poller in pollers:
            poller.stop()
        await self._drain(drain, grpc_server, site, loop.time() + options.drain_seconds)
        if runner is not None:
            await runner.cleanup()
        self.service.close()  # nothing is queued any more: every request was answered
        self.request_logs.close()
        unfinished = f"; {drain.unfinished} still running at the deadline answered UNAVAILABLE" * bool(drain.unfinished)
        print(f"stopped{unfinished}", file=announce, flush=True)
        return 0

    async def _drain(self, drain: Drain, grpc_server, site: web.TCPSite | None, deadline: float) -> None:
        """No new connections, every received request answered (see serving/drain.py), by `deadline` at the latest."""
        drain.draining = True
        if site is not None:
            await site.stop()  # closes the REST listening socket only; open connections keep their requests
        if not await drain.quiet(deadline):
            await drain.answer_the_rest()
        stopping = asyncio.ensure_future(grpc_server.stop(max(0.5, deadline - asyncio.get_running_loop().time())))
        await asyncio.sleep(GOAWAY_SECONDS)
        drain.release()
        await stopping

    def _start_pollers(self) -> list[Poller]:
        pollers = []
        if self.options.file_system_poll_wait_seconds > 0:
            pollers.append(Poller(self.options.file_system_poll_wait_seconds, self.manager.poll, "version-poll"))
        watched = self.options.model_config_file or self.options.routing_config_file
        if watched and self.options.model_config_file_poll_wait_seconds > 0:
            interval = self.options.model_config_file_poll_wait_seconds
            pollers.append(Poller(interval, self._poll_config_file, "config-poll"))
        return [poller.start() for poller in pollers]

    def _announce(self, out: TextIO, grpc_addresses: list[str]) -> None:
        available = self.manager.available()
        for model in self.manager.config.model_config_list.config:
            versions = ", ".join(str(v) for v in available.get(model.name, []))
            labels = ", ".join(f"{k}={v}" for k, v in sorted(self.manager.labels(model.name).items()))
            shown = f"version {versions} (AVAILABLE{'; labels ' + labels if labels else ''})"
            print(f"serving model '{model.name}' {shown} from {model.base_path}", file=out)
        for address in grpc_addresses:
            print(f"  gRPC  {address}", file=out)
        if self.options.rest_api_port:
            rest = f"http://{_address(self.options.host, self.options.rest_api_port)}"
            first = self.manager.config.model_config_list.config[0].name
            print(f"  REST  {rest}/v1/models/{first}", file=out)
            if self.metrics_path:
                print(f"  metrics {rest}{self.metrics_path}", file=out)
        print("Ctrl-C or SIGTERM stops the server after the requests in flight.", file=out, flush=True)
