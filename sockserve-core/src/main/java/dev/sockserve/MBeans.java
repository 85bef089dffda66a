package dev.sockserve;

import java.lang.management.ManagementFactory;
import javax.management.JMException;
import javax.management.ObjectName;

/** JMX registration of a server's metrics; its own class so that java.management loads only when asked for. */
final class MBeans {

    private MBeans() {
    }

    /** Registers under {@code dev.sockserve:type=Server,name="tcp 127.0.0.1:7007"}; returns the name. */
    static Object register(ServerMetrics metrics) {
        try {
            ObjectName name = new ObjectName("dev.sockserve:type=Server,name=" + ObjectName.quote(metrics.getListener()));
            ManagementFactory.getPlatformMBeanServer().registerMBean(metrics, name);
            return name;
        } catch (JMException e) {
            BaseServer.LOG.log(System.Logger.Level.WARNING, "cannot register the JMX MBean of "
                    + metrics.getListener() + ": " + e);
            return null;
        }
    }

    static void unregister(Object name) {
        try {
            ManagementFactory.getPlatformMBeanServer().unregisterMBean((ObjectName) name);
        } catch (JMException e) {
            // gone already
        }
    }
}
