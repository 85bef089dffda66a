/** picocli, as its own jar declares it (META-INF/versions/9/module-info.class), compiled for Java 25. */
module info.picocli {
    requires static java.sql;
    exports picocli;
}
