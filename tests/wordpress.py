"""A real oEmbed consumer for tests: WordPress from Debian's `wordpress` package on
PHP's built-in server, with its own MariaDB (Debian's), both on loopback, under a
temporary directory, stopped by `stop()`.

Debian's /usr/share/wordpress is used as installed. Its wp-config.php reads
/etc/wordpress/config-<host>.php; rather than write there, the router script
(`router.php`) defines the configuration itself and boots WordPress the way
wp-blog-header.php does. The content directory (a minimal classic theme and one
must-use plugin) is the test's own. The plugin only lets WordPress reach a
loopback host on a test port, which its HTTP API refuses by default (an SSRF
guard meant for the public internet); WordPress's oEmbed code is untouched.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import IO

from samembed.embedded_db import free_port

WORDPRESS = Path("/usr/share/wordpress")
PACKAGES = ("wordpress", "php8.2-cli", "php8.2-mysql", "mariadb-server")


def available() -> bool:
    """Whether Debian's WordPress, PHP and MariaDB are installed."""
    return WORDPRESS.is_dir() and all(shutil.which(c) for c in (
        "php", "mariadbd", "mariadb-install-db", "mariadb"))


CONFIG = """<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', '127.0.0.1:{db_port}');
define('WP_HOME', '{origin}');
define('WP_SITEURL', '{origin}');
define('WP_CONTENT_DIR', '{content}');
define('WP_CONTENT_URL', '{origin}/wp-content');
define('ABSPATH', '{wordpress}/');
define('WP_AUTO_UPDATE_CORE', false);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', false);
define('DISABLE_WP_CRON', true);
$table_prefix = 'wp_';
"""

ROUTER = """<?php
// Static files of WordPress and of the test's content directory as they are.
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if (strpos($path, '/wp-content/') === 0) {{
    $file = '{content}' . substr($path, strlen('/wp-content'));
    if (is_file($file) && substr($file, -4) !== '.php') {{
        header('Content-Type: ' . (substr($file, -3) === '.js' ? 'text/javascript' : 'text/css'));
        readfile($file);
        return true;
    }}
}}
if ($path !== '/' && is_file('{wordpress}' . $path) && substr($path, -4) !== '.php') {{
    return false;
}}
require '{config}';
define('WP_USE_THEMES', true);
require ABSPATH . 'wp-settings.php';
wp();
require ABSPATH . WPINC . '/template-loader.php';
"""

# Runs once: creates the site, its editor and the posts the test reads.
INSTALL = """<?php
define('WP_INSTALLING', true);
$_SERVER['HTTP_HOST'] = '{host}';
require '{config}';
require ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
wp_install('Publisher', 'editor', 'editor@example.org', true, '', 'a long test password');
update_option('permalink_structure', '');
switch_theme('plain');
echo "installed\\n";
"""

PLUGIN = """<?php
/* The test's WordPress reaches samembed on loopback: its HTTP API refuses
   private hosts and ports other than 80, 443 and 8080 unless told. */
add_filter('http_request_host_is_external', function ($external, $host) {{
    return $external || $host === '127.0.0.1';
}}, 10, 2);
add_filter('http_allowed_safe_ports', function ($ports) {{
    $ports[] = {samembed_port};
    return $ports;
}});
// Twemoji would be fetched from s.w.org: nothing here leaves the machine.
remove_action('wp_head', 'print_emoji_detection_script', 7);
remove_action('wp_print_styles', 'print_emoji_styles');
// A site that lists samembed as a trusted provider: the README's one line.
if (get_option('samembed_trusted')) {{
    wp_oembed_add_provider('#https?://127.0.0.1:{samembed_port}/(s|e)/.*#i',
                           'http://127.0.0.1:{samembed_port}/oembed?loader=1', true);
}}
"""

THEME_STYLE = "/*\nTheme Name: plain\n*/\nbody{margin:0;font:16px sans-serif}\n" \
              "article{width:600px;margin:20px}\n"
THEME_INDEX = """<!doctype html><html><head><?php wp_head(); ?></head><body>
<?php while (have_posts()) : the_post(); ?><article id="post"><?php the_content(); ?></article>
<?php endwhile; wp_footer(); ?></body></html>
"""
THEME_FUNCTIONS = "<?php $content_width = 600;\n"


class WordPress:
    """WordPress and its MariaDB on loopback ports, under `home`."""

    def __init__(self, home: Path, samembed_port: int) -> None:
        self.home = home
        self.db_port = free_port()
        self.port = free_port()
        self.samembed_port = samembed_port
        self.content = home / "wp-content"
        self.config = home / "config.php"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write(self) -> None:
        values = {"db_port": self.db_port, "origin": self.origin, "content": self.content,
                  "wordpress": WORDPRESS, "config": self.config,
                  "host": f"127.0.0.1:{self.port}", "samembed_port": self.samembed_port}
        theme = self.content / "themes" / "plain"
        theme.mkdir(parents=True)
        (self.content / "mu-plugins").mkdir()
        (self.content / "uploads").mkdir()
        (theme / "style.css").write_text(THEME_STYLE)
        (theme / "index.php").write_text(THEME_INDEX)
        (theme / "functions.php").write_text(THEME_FUNCTIONS)
        (self.content / "mu-plugins" / "loopback.php").write_text(PLUGIN.format(**values))
        self.config.write_text(CONFIG.format(**values))
        (self.home / "router.php").write_text(ROUTER.format(**values))
        (self.home / "install.php").write_text(INSTALL.format(**values))

    def _database(self, deadline: float) -> None:
        data = self.home / "mariadb"
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                        "--user=root", "--skip-test-db",
                        "--auth-root-authentication-method=normal"],
                       check=True, capture_output=True, timeout=120)
        self.processes.append(subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={data}", "--user=root",
             "--bind-address=127.0.0.1", f"--port={self.db_port}",
             f"--socket={self.home / 'mariadb.sock'}", f"--pid-file={self.home / 'mariadb.pid'}",
             "--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
             "--innodb-log-file-size=8M", "--performance-schema=off"],
            stdout=subprocess.DEVNULL, stderr=self._log("mariadb.log")))
        while True:
            done = subprocess.run(["mariadb", "--no-defaults", "-h127.0.0.1",
                                   f"-P{self.db_port}", "-uroot",
                                   "-e", "CREATE DATABASE IF NOT EXISTS wordpress"],
                                  capture_output=True, timeout=10)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"MariaDB did not start: {done.stderr.decode()[-500:]}")
            time.sleep(0.2)

    def start(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        self._write()
        try:
            self._database(deadline)
            subprocess.run(["php", str(self.home / "install.php")], check=True,
                           capture_output=True, timeout=120, cwd=self.home)
            self.processes.append(subprocess.Popen(
                ["php", "-S", f"127.0.0.1:{self.port}", "-t", str(WORDPRESS),
                 str(self.home / "router.php")],
                stdout=subprocess.DEVNULL, stderr=self._log("php.log"),
                env={"PATH": "/usr/bin:/bin", "PHP_CLI_SERVER_WORKERS": "2"}))
            while True:
                try:
                    with urllib.request.urlopen(self.origin + "/", timeout=5) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("WordPress did not start: "
                                       + (self.home / "php.log").read_text()[-1000:])
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise

    def _log(self, name: str) -> IO[bytes]:
        log = (self.home / name).open("wb")
        self.logs.append(log)
        return log

    def php(self, code: str) -> str:
        """Run PHP inside this WordPress (as a command-line script) and return its output."""
        script = self.home / "run.php"
        script.write_text(f"<?php\n$_SERVER['HTTP_HOST'] = '127.0.0.1:{self.port}';\n"
                          f"require '{self.config}';\nrequire ABSPATH . 'wp-settings.php';\n"
                          f"{code}\n")
        done = subprocess.run(["php", str(script)], capture_output=True, timeout=60,
                              cwd=self.home)
        if done.returncode != 0:
            raise RuntimeError(done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:])
        return done.stdout.decode()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.processes.clear()
        for log in self.logs:
            log.close()
        self.logs.clear()
