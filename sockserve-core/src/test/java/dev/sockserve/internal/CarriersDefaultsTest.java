package dev.sockserve.internal;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The JDK's defaults, which a child JVM on this machine cannot all show: the pollers follow the CPUs. */
@Timeout(10)
class CarriersDefaultsTest {

    private static String warning(Map<String, String> properties, int cpus, boolean linux) {
        return Carriers.starvationWarning(properties::get, cpus, linux);
    }

    @Test
    void theJdksDefaultsAreSafeOnAnyCpuCount() {
        for (int cpus : new int[] {1, 2, 3, 6, 64}) {
            assertNull(warning(Map.of(), cpus, true), cpus + " CPUs");
        }
    }

    @Test
    void oneCarrierFewerThanTheCpusNeedsFewerPollersOnLinuxOnly() {
        String w = warning(Map.of("jdk.virtualThreadScheduler.parallelism", "3"), 4, true);
        assertNotNull(w);
        assertTrue(w.contains("4 read pollers") && w.contains("-Djdk.readPollers=2"), w);
        assertNull(warning(Map.of("jdk.virtualThreadScheduler.parallelism", "3", "jdk.readPollers", "2"), 4, true));
        // elsewhere the JDK's pollers are platform threads unless asked otherwise
        assertNull(warning(Map.of("jdk.virtualThreadScheduler.parallelism", "3"), 4, false));
        assertNotNull(warning(Map.of("jdk.virtualThreadScheduler.parallelism", "3", "jdk.pollerMode", "VTHREAD_POLLERS"), 4, false));
    }
}
