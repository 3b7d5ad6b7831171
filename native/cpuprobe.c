/*
 * cpuprobe: print, as one JSON object on stdout, the SIMD features that this CPU
 * and this kernel let a process use.
 *
 *   {"arch": "x86_64", "source": "cpuprobe", "features": {"avx": true, ...}, "detail": {...}}
 *
 * x86_64: CPUID leaves 1 and 7, masked by XCR0 so that a feature counts only when
 * the OS saves its register state (otherwise the instructions fault). AMX is
 * reported twice: amx_tile/amx_int8/amx_bf16 are what CPUID advertises, and
 * amx_usable says whether XCR0 enables tile state and Linux grants this process
 * permission to use it (arch_prctl ARCH_REQ_XCOMP_PERM), the same request that
 * ggml makes before it touches a tile register.
 *
 * aarch64: getauxval(AT_HWCAP / AT_HWCAP2), the kernel's own list.
 *
 * Build: gcc -O2 cpuprobe.c -o cpuprobe
 *        aarch64-linux-gnu-gcc -O2 -static cpuprobe.c -o cpuprobe-aarch64
 */
/* syscall() is a GNU/BSD extension, hidden under a strict -std=c11. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct feature {
    const char *name;
    int present;
};

static inline void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static inline void print_features(const struct feature *features, size_t count) {
    printf("\"features\": {");
    for (size_t i = 0; i < count; i++) {
        printf("%s\"%s\": %s", i ? ", " : "", features[i].name,
               features[i].present ? "true" : "false");
    }
    printf("}");
}

#if defined(__x86_64__) || defined(__i386__)

#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* Bits of XCR0: which register state the OS saves on a context switch. */
#define XCR0_SSE (1ULL << 1)
#define XCR0_AVX (1ULL << 2)
#define XCR0_OPMASK (1ULL << 5)
#define XCR0_ZMM_HI256 (1ULL << 6)
#define XCR0_HI16_ZMM (1ULL << 7)
#define XCR0_XTILECFG (1ULL << 17)
#define XCR0_XTILEDATA (1ULL << 18)

/* Linux uapi values (asm/prctl.h), spelled out for older headers. */
#define LM_ARCH_REQ_XCOMP_PERM 0x1023
#define LM_XFEATURE_XTILEDATA 18

static int bit(uint32_t reg, int n) { return (int)((reg >> n) & 1u); }

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    /* xgetbv is encoded by hand so that no -mxsave flag is needed. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Returns 0 when granted, otherwise the failing call's result. */
static long request_amx_permission(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    return syscall(SYS_arch_prctl, LM_ARCH_REQ_XCOMP_PERM, LM_XFEATURE_XTILEDATA);
#else
    return -1;
#endif
}

int main(void) {
    uint32_t eax, ebx, ecx, edx;
    uint32_t l1_ecx = 0, l7_ebx = 0, l7_ecx = 0, l7_edx = 0, l71_eax = 0;
    char vendor[13] = {0};
    unsigned max_leaf = __get_cpuid_max(0, (unsigned *)&ebx);

    if (__get_cpuid(0, &eax, &ebx, &ecx, &edx)) {
        memcpy(vendor, &ebx, 4);
        memcpy(vendor + 4, &edx, 4);
        memcpy(vendor + 8, &ecx, 4);
    }
    if (max_leaf >= 1 && __get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        l1_ecx = ecx;
    }
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        l7_ebx = ebx;
        l7_ecx = ecx;
        l7_edx = edx;
        if (eax >= 1) {
            __cpuid_count(7, 1, eax, ebx, ecx, edx);
            l71_eax = eax;
        }
    }

    int osxsave = bit(l1_ecx, 27);
    uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    int os_avx = (xcr0 & (XCR0_SSE | XCR0_AVX)) == (XCR0_SSE | XCR0_AVX);
    uint64_t zmm_state = XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM;
    int os_avx512 = os_avx && (xcr0 & zmm_state) == zmm_state;
    int os_amx = (xcr0 & (XCR0_XTILECFG | XCR0_XTILEDATA)) == (XCR0_XTILECFG | XCR0_XTILEDATA);

    int amx_tile = bit(l7_edx, 24);
    long amx_permission = -1;
    if (amx_tile && os_amx) {
        amx_permission = request_amx_permission();
    }

    struct feature features[] = {
        {"sse3", bit(l1_ecx, 0)},
        {"ssse3", bit(l1_ecx, 9)},
        {"sse4_2", bit(l1_ecx, 20)},
        {"avx", os_avx && bit(l1_ecx, 28)},
        {"avx2", os_avx && bit(l7_ebx, 5)},
        {"fma", os_avx && bit(l1_ecx, 12)},
        {"f16c", os_avx && bit(l1_ecx, 29)},
        {"bmi2", bit(l7_ebx, 8)},
        {"avx_vnni", os_avx && bit(l71_eax, 4)},
        {"avx512f", os_avx512 && bit(l7_ebx, 16)},
        {"avx512cd", os_avx512 && bit(l7_ebx, 28)},
        {"avx512bw", os_avx512 && bit(l7_ebx, 30)},
        {"avx512dq", os_avx512 && bit(l7_ebx, 17)},
        {"avx512vl", os_avx512 && bit(l7_ebx, 31)},
        {"avx512vnni", os_avx512 && bit(l7_ecx, 11)},
        {"avx512bf16", os_avx512 && bit(l71_eax, 5)},
        {"avx512vbmi", os_avx512 && bit(l7_ecx, 1)},
        {"amx_tile", amx_tile},
        {"amx_int8", bit(l7_edx, 25)},
        {"amx_bf16", bit(l7_edx, 22)},
        {"amx_usable", amx_tile && os_amx && amx_permission == 0},
    };

    printf("{\"arch\": \"x86_64\", \"source\": \"cpuprobe\", ");
    print_features(features, sizeof features / sizeof features[0]);
    printf(", \"detail\": {\"vendor\": ");
    print_json_string(vendor);
    printf(", \"xcr0\": \"0x%llx\", \"amx_permission\": %ld}}\n", (unsigned long long)xcr0,
           amx_permission);
    return 0;
}

#elif defined(__aarch64__)

#include <sys/auxv.h>

#ifndef AT_HWCAP
#define AT_HWCAP 16
#endif
#ifndef AT_HWCAP2
#define AT_HWCAP2 26
#endif

/* Linux arm64 uapi (asm/hwcap.h), spelled out: older headers lack the newer bits. */
#define LM_HWCAP_ASIMD (1UL << 1)
#define LM_HWCAP_FPHP (1UL << 9)
#define LM_HWCAP_ASIMDHP (1UL << 10)
#define LM_HWCAP_ASIMDDP (1UL << 20)
#define LM_HWCAP_SVE (1UL << 22)
#define LM_HWCAP2_SVE2 (1UL << 1)
#define LM_HWCAP2_SVEI8MM (1UL << 9)
#define LM_HWCAP2_I8MM (1UL << 13)
#define LM_HWCAP2_BF16 (1UL << 14)
#define LM_HWCAP2_SME (1UL << 23)
#define LM_HWCAP2_SME2 (1UL << 37)

int main(void) {
    unsigned long hwcap = getauxval(AT_HWCAP);
    unsigned long hwcap2 = getauxval(AT_HWCAP2);

    struct feature features[] = {
        {"asimd", (hwcap & LM_HWCAP_ASIMD) != 0},
        {"fphp", (hwcap & LM_HWCAP_FPHP) != 0},
        {"asimdhp", (hwcap & LM_HWCAP_ASIMDHP) != 0},
        {"asimddp", (hwcap & LM_HWCAP_ASIMDDP) != 0},
        {"i8mm", (hwcap2 & LM_HWCAP2_I8MM) != 0},
        {"sve", (hwcap & LM_HWCAP_SVE) != 0},
        {"sve2", (hwcap2 & LM_HWCAP2_SVE2) != 0},
        {"svei8mm", (hwcap2 & LM_HWCAP2_SVEI8MM) != 0},
        {"bf16", (hwcap2 & LM_HWCAP2_BF16) != 0},
        {"sme", (hwcap2 & LM_HWCAP2_SME) != 0},
        {"sme2", (hwcap2 & LM_HWCAP2_SME2) != 0},
    };

    printf("{\"arch\": \"aarch64\", \"source\": \"cpuprobe\", ");
    print_features(features, sizeof features / sizeof features[0]);
    printf(", \"detail\": {\"hwcap\": \"0x%lx\", \"hwcap2\": \"0x%lx\"}}\n", hwcap, hwcap2);
    return 0;
}

#else

#include <sys/utsname.h>

int main(void) {
    struct utsname name;
    const char *machine = uname(&name) == 0 ? name.machine : "unknown";
    printf("{\"arch\": ");
    print_json_string(machine);
    printf(", \"source\": \"cpuprobe\", \"features\": {}, \"detail\": {}}\n");
    return 0;
}

#endif
