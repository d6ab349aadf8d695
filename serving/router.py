"""Which version answers a request: the served labels and the routing file (serving/routing.py) decide."""

from serving.manager import ModelManager
from serving.routing import CANARY, DIRECT, LATEST, SHADOW, STABLE, RoutingConfig, RoutingError, bucket, parse
from serving.servable import Servable
from serving.status import ServingError


class Router:
    """Chooses the version (and route) of each request from the served labels and the routing file."""

    def __init__(self, manager: ModelManager, path: str | None):
        self.path = path
        self.config = RoutingConfig()
        self._manager = manager
        self._text: str | None = None

    def reload(self) -> bool:
        """Re-reads the file if it changed; True if it did. A bad file raises RoutingError and the previous
        routing stays (the server logs the same bad text once)."""
        if not self.path:
            return False
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as error:
            raise RoutingError(f"{self.path}: cannot be read: {error}") from None
        if text == self._text:
            return False
        config = parse(text, self.path) if text else RoutingConfig()
        self.config, self._text = config, text
        return True

    def choose(self, name: str, version: int | None, label: str | None, request_id: str) -> tuple[Servable, str]:
        """(servable, route) for a request; raises TF Serving's error when nothing can answer it."""
        if version is not None or label:
            return self._manager.resolve(name, version, label), DIRECT
        route = self.config.models.get(name)
        if route is not None:
            labels = self._manager.labels(name)
            if CANARY in labels and bucket(f"split:{request_id}") < route.canary_weight:
                servable = self._available(name, labels[CANARY])  # still loading: stable answers instead
                if servable is not None:
                    return servable, CANARY
            if STABLE in labels:
                servable = self._available(name, labels[STABLE])
                if servable is not None:
                    return servable, STABLE
        return self._manager.resolve(name), LATEST

    def shadow(self, name: str, route: str, request_id: str) -> Servable | None:
        """The shadow version that gets a copy of this request, if any: routed (name-only) requests only."""
        model_route = self.config.models.get(name)
        if model_route is None or model_route.shadow_sample <= 0 or route in (DIRECT, SHADOW):
            return None
        version = self._manager.labels(name).get(SHADOW)
        if version is None or bucket(f"shadow:{request_id}") >= model_route.shadow_sample:
            return None
        return self._available(name, version)

    def _available(self, name: str, version: int) -> Servable | None:
        try:
            return self._manager.resolve(name, version)
        except ServingError:
            return None
