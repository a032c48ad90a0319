/*
 * A fake libnvidia-ml.so.1 for the simulated fleet.
 *
 * It exports the NVML entry points fleetdeck's probe uses, with the real signatures and
 * struct layouts, so that the real pynvml (ctypes) code runs against simulated GPUs. The
 * readings come from the node's readings file, $FLEETDECK_SIM_DIR/gpus.txt or
 * $HOME/.sim/gpus.txt, written by the simulator (console/sim/gpus.py); the file is read
 * again whenever it changes. No file: NVML_ERROR_DRIVER_NOT_LOADED, as on a host whose
 * kernel module is missing. A GPU marked lost answers NVML_ERROR_GPU_IS_LOST (Xid 79).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3, NVML_ERROR_DRIVER_NOT_LOADED = 9, NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_INSUFFICIENT_SIZE = 7, NVML_ERROR_NOT_FOUND = 6, NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_UNKNOWN = 999
};

#define MAX_GPUS 64
#define MAX_PROCS 16
#define MAX_EVENTS 256

typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
    unsigned int pid; unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

struct gpu {
    int index, lost;
    char name[96], uuid[96], serial[32], pci[32];
    unsigned int util_gpu, util_mem, temp, clock_sm, clock_mem, power_mw, power_limit_mw;
    unsigned long long mem_total, mem_used, reasons, ecc_unc, ecc_cor;
    int nprocs; unsigned int proc_pid[MAX_PROCS]; unsigned long long proc_mem[MAX_PROCS];
};
typedef struct gpu *nvmlDevice_t;

typedef struct {
    nvmlDevice_t device; unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;
typedef struct { unsigned long long seen; } *nvmlEventSet_t;

static struct gpu gpus[MAX_GPUS];
static int ngpus = -1;
static char driver[64] = "", cuda[32] = "";
static long long ev_seq[MAX_EVENTS]; static int ev_gpu[MAX_EVENTS], ev_xid[MAX_EVENTS];
static int nevents = 0;
static char path[4096];
static struct timespec loaded_mtime; static off_t loaded_size = -1;
static int initialized = 0;

static void find_path(void) {
    const char *dir = getenv("FLEETDECK_SIM_DIR");
    if (dir && *dir) snprintf(path, sizeof path, "%s/gpus.txt", dir);
    else snprintf(path, sizeof path, "%s/.sim/gpus.txt", getenv("HOME") ? getenv("HOME") : ".");
}

/* (re)read the readings file when it changed; 0 when usable */
static int refresh(void) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (ngpus >= 0 && st.st_size == loaded_size && st.st_mtim.tv_sec == loaded_mtime.tv_sec
        && st.st_mtim.tv_nsec == loaded_mtime.tv_nsec) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int n = 0; struct gpu *g = NULL; nevents = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *v = strchr(line, ' ');
        if (!v) continue;
        *v++ = 0;
        if (!strcmp(line, "driver")) snprintf(driver, sizeof driver, "%s", v);
        else if (!strcmp(line, "cuda")) snprintf(cuda, sizeof cuda, "%s", v);
        else if (!strcmp(line, "xid_event") && nevents < MAX_EVENTS) {
            sscanf(v, "%lld %d %d", &ev_seq[nevents], &ev_gpu[nevents], &ev_xid[nevents]);
            nevents++;
        } else if (!strcmp(line, "gpu") && n < MAX_GPUS) {
            g = &gpus[n++]; memset(g, 0, sizeof *g); g->index = atoi(v);
        } else if (!g) continue;
        else if (!strcmp(line, "name")) snprintf(g->name, sizeof g->name, "%s", v);
        else if (!strcmp(line, "uuid")) snprintf(g->uuid, sizeof g->uuid, "%s", v);
        else if (!strcmp(line, "serial")) snprintf(g->serial, sizeof g->serial, "%s", v);
        else if (!strcmp(line, "pci")) snprintf(g->pci, sizeof g->pci, "%s", v);
        else if (!strcmp(line, "lost")) g->lost = atoi(v);
        else if (!strcmp(line, "memory_total_mib")) g->mem_total = strtoull(v, 0, 10) << 20;
        else if (!strcmp(line, "memory_used_mib")) g->mem_used = strtoull(v, 0, 10) << 20;
        else if (!strcmp(line, "utilization_gpu")) g->util_gpu = atoi(v);
        else if (!strcmp(line, "utilization_memory")) g->util_mem = atoi(v);
        else if (!strcmp(line, "temperature")) g->temp = atoi(v);
        else if (!strcmp(line, "clock_sm")) g->clock_sm = atoi(v);
        else if (!strcmp(line, "clock_mem")) g->clock_mem = atoi(v);
        else if (!strcmp(line, "clocks_event_reasons")) g->reasons = strtoull(v, 0, 10);
        else if (!strcmp(line, "ecc_uncorrected_volatile")) g->ecc_unc = strtoull(v, 0, 10);
        else if (!strcmp(line, "ecc_corrected_volatile")) g->ecc_cor = strtoull(v, 0, 10);
        else if (!strcmp(line, "power_draw_mw")) g->power_mw = atoi(v);
        else if (!strcmp(line, "power_limit_mw")) g->power_limit_mw = atoi(v);
        else if (!strcmp(line, "process") && g->nprocs < MAX_PROCS) {
            unsigned long long mib = 0;
            sscanf(v, "%u %llu", &g->proc_pid[g->nprocs], &mib);
            g->proc_mem[g->nprocs++] = mib << 20;
        }
    }
    fclose(f);
    ngpus = n; loaded_size = st.st_size; loaded_mtime = st.st_mtim;
    return 0;
}

static nvmlReturn_t check(nvmlDevice_t d) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!d || d < gpus || d >= gpus + MAX_GPUS) return NVML_ERROR_INVALID_ARGUMENT;
    refresh();
    if (d - gpus >= ngpus) return NVML_ERROR_GPU_IS_LOST;
    return d->lost ? NVML_ERROR_GPU_IS_LOST : NVML_SUCCESS;
}

static nvmlReturn_t copy_str(char *dst, unsigned int len, const char *src) {
    if (!dst) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(src) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(dst, src);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    find_path();
    ngpus = -1; loaded_size = -1;
    if (refresh() != 0) return NVML_ERROR_DRIVER_NOT_LOADED;
    initialized++;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlShutdown(void) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    initialized--;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t r) {
    switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned int len) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    refresh();
    return copy_str(v, len, driver);
}
nvmlReturn_t nvmlSystemGetNVMLVersion(char *v, unsigned int len) {
    return copy_str(v, len, "12.570.133.20");
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v) {
    int major = 0, minor = 0;
    if (!v) return NVML_ERROR_INVALID_ARGUMENT;
    sscanf(cuda, "%d.%d", &major, &minor);
    *v = major * 1000 + minor * 10;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { return nvmlSystemGetCudaDriverVersion(v); }
nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int len) {
    (void)pid;
    return copy_str(name, len, "python3");
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    refresh();
    *count = (unsigned int)ngpus;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return nvmlDeviceGetCount_v2(count); }

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *dev) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    refresh();
    if (!dev || (int)index >= ngpus) return NVML_ERROR_INVALID_ARGUMENT;
    if (gpus[index].lost) return NVML_ERROR_GPU_IS_LOST;
    *dev = &gpus[index];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, nvmlDevice_t *d) {
    return nvmlDeviceGetHandleByIndex_v2(i, d);
}

#define GUARD(d) do { nvmlReturn_t _r = check(d); if (_r) return _r; } while (0)

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t d, unsigned int *i) { GUARD(d); *i = d->index; return 0; }
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *s, unsigned int n) { GUARD(d); return copy_str(s, n, d->name); }
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *s, unsigned int n) { GUARD(d); return copy_str(s, n, d->uuid); }
nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t d, char *s, unsigned int n) { GUARD(d); return copy_str(s, n, d->serial); }

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    GUARD(d); u->gpu = d->util_gpu; u->memory = d->util_mem; return 0;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
    GUARD(d);
    m->total = d->mem_total; m->used = d->mem_used; m->free = d->mem_total - d->mem_used;
    return 0;
}
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *t) {
    GUARD(d);
    if (sensor != 0) return NVML_ERROR_NOT_SUPPORTED;
    *t = d->temp; return 0;
}
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *p) { GUARD(d); *p = d->power_mw; return 0; }
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *p) { GUARD(d); *p = d->power_limit_mw; return 0; }
nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t d, unsigned int *p) { GUARD(d); *p = d->power_limit_mw; return 0; }
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned int *c) {
    GUARD(d);
    /* NVML_CLOCK_GRAPHICS 0, SM 1, MEM 2, VIDEO 3 */
    if (type == 2) *c = d->clock_mem;
    else if (type >= 0 && type <= 3) *c = d->clock_sm;
    else return NVML_ERROR_INVALID_ARGUMENT;
    return 0;
}
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long *r) {
    GUARD(d); *r = d->reasons; return 0;
}
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d, unsigned long long *r) {
    return nvmlDeviceGetCurrentClocksEventReasons(d, r);
}
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int errorType, int counterType,
                                         unsigned long long *count) {
    GUARD(d);
    (void)counterType;
    /* NVML_MEMORY_ERROR_TYPE_CORRECTED 0, UNCORRECTED 1 */
    *count = errorType == 1 ? d->ecc_unc : d->ecc_cor;
    return 0;
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count,
                                                     nvmlProcessInfo_t *infos) {
    GUARD(d);
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    if (d->nprocs == 0) { *count = 0; return 0; }
    if (!infos || *count < (unsigned int)d->nprocs) {
        *count = d->nprocs; return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (int i = 0; i < d->nprocs; i++) {
        infos[i].pid = d->proc_pid[i]; infos[i].usedGpuMemory = d->proc_mem[i];
        infos[i].gpuInstanceId = 0xFFFFFFFF; infos[i].computeInstanceId = 0xFFFFFFFF;
    }
    *count = d->nprocs;
    return 0;
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *c,
                                                     nvmlProcessInfo_t *i) {
    return nvmlDeviceGetComputeRunningProcesses_v3(d, c, i);
}

/* Xid events: nvmlEventTypeXidCriticalError = 0x8 */
static long long max_seq(void) {
    long long m = 0;
    for (int i = 0; i < nevents; i++) if (ev_seq[i] > m) m = ev_seq[i];
    return m;
}
nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    *set = calloc(1, sizeof **set);
    refresh();
    (*set)->seen = (unsigned long long)max_seq();  /* only events after registration */
    return *set ? 0 : NVML_ERROR_UNKNOWN;
}
nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t d, unsigned long long *types) {
    GUARD(d); *types = 0x8; return 0;
}
nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types, nvmlEventSet_t set) {
    GUARD(d);
    return (types & ~0x8ULL) ? NVML_ERROR_NOT_SUPPORTED : (set ? 0 : NVML_ERROR_INVALID_ARGUMENT);
}
/* The real library blocks in the kernel until an event or the timeout; this one looks at
 * the readings file 5 times a second: a probe on every simulated node waits here always, and
 * 20 looks a second each cost a fleet of 500 ~10,000 wake-ups a second. */
#define EVENT_POLL_MS 200
nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (!set || !data) return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned int waited = 0;; waited += EVENT_POLL_MS) {
        refresh();
        int best = -1;
        for (int i = 0; i < nevents; i++)
            if ((unsigned long long)ev_seq[i] > set->seen && (best < 0 || ev_seq[i] < ev_seq[best]))
                best = i;
        if (best >= 0) {
            set->seen = ev_seq[best];
            int g = ev_gpu[best] < ngpus && ev_gpu[best] >= 0 ? ev_gpu[best] : 0;
            data->device = &gpus[g]; data->eventType = 0x8; data->eventData = ev_xid[best];
            data->gpuInstanceId = 0xFFFFFFFF; data->computeInstanceId = 0xFFFFFFFF;
            return 0;
        }
        if (waited >= timeoutms) return NVML_ERROR_TIMEOUT;
        usleep(EVENT_POLL_MS * 1000);
    }
}
nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t s, nvmlEventData_t *d, unsigned int t) {
    return nvmlEventSetWait_v2(s, d, t);
}
nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) { free(set); return 0; }
