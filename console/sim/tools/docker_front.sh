# `docker compose version [--short]`, which a deploy asks before each compose command: a
# constant (docker.py's COMPOSE_VERSION), answered without an interpreter start
if [ "$1" = compose ] && [ "$2" = version ] && { [ "$#" = 2 ] || [ "$*" = "compose version --short" ]; }; then
    if [ -e "${FLEETDECK_SIM_DIR:-$HOME/.sim}/no-compose-plugin" ]; then
        printf "docker: 'compose' is not a docker command.\nSee 'docker --help'\n" >&2
        exit 1
    fi
    if [ "$#" = 3 ]; then echo 2.24.6; else echo "Docker Compose version v2.24.6"; fi
    exit 0
fi
