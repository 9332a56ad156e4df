# The compose deployment (docker-compose.cluster.yml): make up-stack, health, cli, drill, down.
# Settings come from .env (made from .env.example when missing); see README "Deploy".

COMPOSE ?= docker compose -f docker-compose.cluster.yml
ENV_FILE ?= .env
-include $(ENV_FILE)

PASSWORD := $(or $(SONIC_PASSWORD),$(REDIS_PASSWORD))
CONTROLLERS := controller-1:26379,controller-2:26379,controller-3:26379
# DEBUG SLEEP freezes the primary the drill picks (run by sh in the router container, with
# SONIC_DRILL_NODE_HOST/PORT set by the drill): a frozen host, for DRILL_FREEZE_S seconds.
DRILL_FREEZE_S ?= 8
FREEZE := redis-cli -h "$$SONIC_DRILL_NODE_HOST" -p "$$SONIC_DRILL_NODE_PORT" $${SONIC_PASSWORD:+--no-auth-warning -a "$$SONIC_PASSWORD"} DEBUG SLEEP $(DRILL_FREEZE_S) >/dev/null 2>&1 &

.PHONY: up-stack down health cli drill

# Builds the image and starts the stack; waits until the routers answer.
up-stack: $(ENV_FILE)
	$(COMPOSE) up -d --build
	$(COMPOSE) exec router-1 sh -c 'for i in $$(seq 1 60); do sonic ping >/dev/null 2>&1 && exit 0; sleep 2; done; sonic ping'

.env:
	cp .env.example .env

# Stops and removes the containers; the data stays in the named volumes (down -v drops it).
down:
	$(COMPOSE) down

# Container health, slot coverage and a PING through both routers.
health:
	$(COMPOSE) ps
	$(COMPOSE) exec router-1 sonic cluster check --controllers $(CONTROLLERS)
	$(COMPOSE) exec router-1 sonic ping --port 6379
	$(COMPOSE) exec router-2 sonic ping --port 6379

# redis-cli connected to router-1.
cli:
	$(COMPOSE) exec router-1 redis-cli -p 6379 $(if $(PASSWORD),--no-auth-warning -a '$(PASSWORD)')

# A failover drill through router-1: shard-1's primary is frozen for DRILL_FREEZE_S s under
# a workload; the report is printed and copied to drill-report.json.
drill:
	$(COMPOSE) exec router-1 sonic drill failover --router 127.0.0.1:6379 --controllers $(CONTROLLERS) $(if $(PASSWORD),--password '$(PASSWORD)') --shard shard-1 --mode partition --partition-time $(DRILL_FREEZE_S)000 --partition-cmd '$(FREEZE)' --heal-cmd true --json /tmp/drill-report.json
	$(COMPOSE) cp router-1:/tmp/drill-report.json drill-report.json
